"""Synthetic pytest suite with known ground truth for the flaky-detector benchmark.

``generate(directory)`` writes the suite and returns the manifest: node id -> expected class and
culprits. Randomness comes from ``os.urandom`` so pytest-randomly's reseeding cannot tame it;
order dependence goes through a module global (per process, like real leaked state); parallel
collisions go through one shared file per pair, touched only while both tests overlap; a
one-sided collision through a lock file one test holds half its time while the other checks it.
Per-process flakes draw their outcome once, at import, like a test that depends on string hash
order: every run in one process agrees.
"""

import json
import textwrap
from pathlib import Path
from typing import Any

FLAKE_RATES = (0.1, 0.2, 0.3, 0.4, 0.5)  # 0.4-0.5: the ones that fake culprits by chance
FLAKES_PER_RATE = 2
PER_PROCESS_FLAKES = 2  # outcome drawn once per process (string hash order, import-time draws)
STABLE = 16  # with the rest: half the suite unhealthy
STABLE_SECONDS = 0.005
BROKEN = 3
POLLUTED_VICTIMS = 3
BRITTLE = 2
COLLIDING_PAIRS = 2
COLLISION_SECONDS = 0.5
ONE_SIDED_PAIRS = 1  # only one test of the pair fails, and only in about half the co-runs
HOLD_SECONDS = 0.6

_STATE = '''"""Process-wide state that order-dependent tests leak and rely on."""
LEAKED: set[str] = set()
'''

_CONFTEST = """import os
import pathlib

import pytest


@pytest.fixture
def shared_dir():
    path = pathlib.Path(os.environ.get("TF_BENCH_SHARED", pathlib.Path(__file__).parent / "shared"))
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def broken_setup():
    raise RuntimeError("database unavailable")
"""


def _module(body: str) -> str:
    return "import os\nimport time\n\nimport suite_state\n\n" + textwrap.dedent(body)


def generate(
    directory: Path, stable: int = STABLE, stable_seconds: float = STABLE_SECONDS
) -> dict[str, dict[str, Any]]:
    """Write the suite under ``directory`` with ``stable`` plain stable tests of
    ``stable_seconds`` each; return {nodeid: {"class", "culprits", "p"}}."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "suite_state.py").write_text(_STATE)
    (directory / "conftest.py").write_text(_CONFTEST)
    (directory / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    truth: dict[str, dict[str, Any]] = {}
    files: dict[str, list[str]] = {}

    def add(file: str, name: str, body: str, cls: str, **extra: Any) -> None:
        files.setdefault(file, []).append(textwrap.dedent(body))
        truth[f"{file}::{name}"] = {"class": cls, **extra}

    stable_files = max(4, stable // 20)
    for i in range(stable):
        add(
            f"test_stable_{i % stable_files}.py",
            f"test_stable_{i}",
            f"""
            def test_stable_{i}():
                time.sleep({stable_seconds})
                assert sum(range({i + 3})) >= 0
            """,
            "stable",
        )
    for i in range(BROKEN):
        fixture = "broken_setup" if i == 0 else ""
        add(
            "test_broken.py",
            f"test_broken_{i}",
            f"""
            def test_broken_{i}({fixture}):
                assert {i} == -1, "always wrong"
            """,
            "broken",
        )
    for p in FLAKE_RATES:
        for j in range(FLAKES_PER_RATE):
            name = f"test_flaky_p{int(p * 100):02d}_{j}"
            add(
                "test_flaky.py",
                name,
                f"""
                def {name}():
                    assert int.from_bytes(os.urandom(4), "big") / 2**32 >= {p}, "random failure"
                """,
                "flaky",
                p=p,
            )
    for j in range(PER_PROCESS_FLAKES):
        name = f"test_flaky_process_{j}"
        add(
            "test_flaky_process.py",
            name,
            f"""
            _DRAWN_{j} = int.from_bytes(os.urandom(4), "big") / 2**32  # at import: per process


            def {name}():
                assert _DRAWN_{j} >= 0.5, "set iteration order differs"
            """,
            "flaky",
            p=0.5,
        )
    for i in range(POLLUTED_VICTIMS):
        polluter, victim = f"test_polluter_{i}", f"test_victim_{i}"
        add(
            f"test_pollute_{i}.py",
            polluter,
            f"""
            def {polluter}():
                suite_state.LEAKED.add("cache-{i}")
            """,
            "stable",
        )
        add(
            f"test_victims_{i}.py",
            victim,
            f"""
            def {victim}():
                assert "cache-{i}" not in suite_state.LEAKED, "stale cache from another test"
            """,
            "order-dependent",
            culprits=[f"test_pollute_{i}.py::{polluter}"],
        )
    # One victim of two polluters: either one, earlier in the same process, breaks it.
    for name in ("a", "b"):
        add(
            "test_pollute_multi.py",
            f"test_polluter_multi_{name}",
            f"""
            def test_polluter_multi_{name}():
                suite_state.LEAKED.add("session-{name}")
            """,
            "stable",
        )
    add(
        "test_victims_multi.py",
        "test_victim_multi",
        """
        def test_victim_multi():
            assert not suite_state.LEAKED & {"session-a", "session-b"}, "stale session"
        """,
        "order-dependent",
        culprits=[f"test_pollute_multi.py::test_polluter_multi_{n}" for n in ("a", "b")],
    )
    for i in range(BRITTLE):
        setter, brittle = f"test_setter_{i}", f"test_brittle_{i}"
        add(
            f"test_setup_{i}.py",
            setter,
            f"""
            def {setter}():
                suite_state.LEAKED.add("config-{i}")
            """,
            "stable",
        )
        add(
            f"test_brittle_{i}.py",
            brittle,
            f"""
            def {brittle}():
                assert "config-{i}" in suite_state.LEAKED, "config never loaded"
            """,
            "order-dependent",
            culprits=[f"test_setup_{i}.py::{setter}"],
        )
    for i in range(COLLIDING_PAIRS):
        names = (f"test_export_{i}_a", f"test_export_{i}_b")
        for own, other in (names, names[::-1]):
            add(
                f"{own}.py",
                own,
                f"""
                def {own}(shared_dir):
                    path = shared_dir / "export-{i}.csv"
                    path.write_text("{own}")
                    time.sleep({COLLISION_SECONDS})
                    try:
                        assert path.read_text() == "{own}", "file overwritten"
                    finally:
                        path.unlink(missing_ok=True)
                """,
                "parallel-only",
                culprits=[f"{other}.py::{other}"],
            )
    for i in range(ONE_SIDED_PAIRS):
        holder, loser = f"test_reindex_{i}", f"test_search_{i}"
        add(
            f"{holder}.py",
            holder,
            f"""
            def {holder}(shared_dir):
                lock = shared_dir / "index-{i}.lock"
                lock.write_text("rebuilding")
                try:
                    time.sleep({HOLD_SECONDS})
                finally:
                    lock.unlink(missing_ok=True)
                time.sleep({HOLD_SECONDS})
            """,
            "stable",
        )
        add(
            f"{loser}.py",
            loser,
            f"""
            def {loser}(shared_dir):
                time.sleep({HOLD_SECONDS / 2})
                assert not (shared_dir / "index-{i}.lock").exists(), "index being rebuilt"
                time.sleep({HOLD_SECONDS / 2})
            """,
            "parallel-only",
            culprits=[f"{holder}.py::{holder}"],
        )
    for file, bodies in files.items():
        (directory / file).write_text(_module("\n".join(bodies)))
    (directory / "manifest.json").write_text(json.dumps(truth, indent=2))
    return truth
