"""The inner pytest sessions nightly starts: what they inherit from the caller's environment."""

import hashlib
import json
from pathlib import Path

from tenantfixtures.flaky.runner import PytestRunner, read_attempts
from tenantfixtures.flaky.store import Store

PROBE = """
import json, pathlib, sys


def test_bytecode_settings():
    pathlib.Path("settings.json").write_text(
        json.dumps({"prefix": sys.pycache_prefix, "no_write": sys.dont_write_bytecode})
    )
"""


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in ("settings.json", "h.db")
    }


def test_sessions_share_a_private_bytecode_cache_where_writing_bytecode_is_off(
    pytester, monkeypatch
):
    """With PYTHONDONTWRITEBYTECODE set, each session would compile every rewritten module
    again; they get a private PYTHONPYCACHEPREFIX instead, that two sessions share (the second
    one reads what the first compiled), that writes nothing into the project, and that
    ``close`` removes."""
    pytester.makepyfile(test_probe=PROBE)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    project = Path(pytester.path)
    before = _tree(project)
    store = Store(str(project / "h.db"))
    runner = PytestRunner(["-p", "no:cacheprovider"], project)
    try:
        run_ids = [runner.run([], store.target, "test") for _ in range(2)]
        settings = json.loads((project / "settings.json").read_text())
        prefix = Path(settings["prefix"])
        compiled = sorted(p.name for p in prefix.rglob("test_probe*.pyc"))
    finally:
        runner.close()
        store_attempts = read_attempts(store, run_ids)
        store.close()
    assert [a.outcome.value for a in store_attempts] == ["passed", "passed"]
    assert settings["no_write"] is False
    assert compiled, f"nothing compiled under {prefix}"
    assert all("pytest" in name for name in compiled)  # pytest's own rewritten bytecode
    assert not prefix.exists()
    assert _tree(project) == before
    assert not list(project.rglob("__pycache__"))


def test_sessions_keep_the_environment_where_writing_bytecode_is_on(pytester, monkeypatch):
    """Without PYTHONDONTWRITEBYTECODE nothing changes: bytecode goes where it always goes."""
    pytester.makepyfile(test_probe=PROBE)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    project = Path(pytester.path)
    store = Store(str(project / "h.db"))
    runner = PytestRunner(["-p", "no:cacheprovider"], project)
    try:
        runner.run([], store.target, "test")
    finally:
        runner.close()
        store.close()
    settings = json.loads((project / "settings.json").read_text())
    assert settings == {"prefix": None, "no_write": False}
