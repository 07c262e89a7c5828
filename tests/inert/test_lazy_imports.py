"""Start-up cost: the entry point loads the plugin into every project of the environment, so
loading it imports only the standard library and pytest; SQLAlchemy, httpx, respx, factory-boy,
Alembic and freezegun wait until a feature needs them."""

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "httpx", "respx", "factory", "faker", "alembic", "freezegun")

IMPORT_THE_PLUGINS = f"""
import importlib, json, sys

import tenantfixtures.plugin

for name in tenantfixtures.plugin.pytest_plugins:
    importlib.import_module(name)
heavy = {HEAVY!r}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))))
"""


def _heavy(modules: object) -> set[str]:
    assert isinstance(modules, list)
    return {name.split(".")[0] for name in modules} & set(HEAVY)


def test_loading_the_plugins_imports_no_heavy_library():
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_THE_PLUGINS],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


def test_the_public_names_still_import():
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tenantfixtures\n"
            "from tenantfixtures import Tenancy, Topology, OpenRouterMock, schema_diff\n"
            "names = set(dir(tenantfixtures))\n"
            "assert set(tenantfixtures.__all__) <= names, set(tenantfixtures.__all__) - names\n"
            "for name in tenantfixtures.__all__:\n"
            "    assert getattr(tenantfixtures, name).__name__ == name\n",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    import tenantfixtures

    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = tenantfixtures.nothing_here  # type: ignore[attr-defined]


RECORD_MODULES = """
import json
import sys


def pytest_sessionfinish(session):
    (session.config.rootpath / "modules.json").write_text(json.dumps(sorted(sys.modules)))
"""

PLAIN_TESTS = """
import pytest


def test_one():
    assert True


@pytest.mark.parametrize("n", range(3))
def test_many(n):
    assert n >= 0
"""


def test_a_plain_project_run_imports_no_heavy_library(pytester: pytest.Pytester):
    """Whatever else the environment's plugins import, ours adds none of the heavy libraries."""
    pytester.makeconftest(RECORD_MODULES)
    pytester.makepyfile(test_plain=PLAIN_TESTS)
    modules = {}
    for name, extra in (("installed", []), ("absent", ["-p", "no:tenantfixtures"])):
        result = pytester.runpytest_subprocess(
            "-p", "no:randomly", "-p", "no:cacheprovider", *extra
        )
        result.assert_outcomes(passed=4)
        modules[name] = json.loads((pytester.path / "modules.json").read_text())
    assert "tenantfixtures.plugin" in modules["installed"]
    assert "tenantfixtures.plugin" not in modules["absent"]
    assert _heavy(modules["installed"]) <= _heavy(modules["absent"])
