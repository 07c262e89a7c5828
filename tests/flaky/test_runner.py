"""The inner pytest sessions nightly starts: what they inherit from the caller's environment."""

import hashlib
import json
import random
from pathlib import Path

from tenantfixtures.flaky.models import Attempt, Outcome
from tenantfixtures.flaky.runner import (
    MIN_SHARED,
    Probe,
    Prober,
    ProbeResult,
    PytestRunner,
)
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
        store_attempts = store.attempts_of(run_ids, first_only=True)
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


def test_side_by_side_counts_the_runs_that_overlapped_only_the_other_test():
    """On random co-runs (short and long runs, gaps, runs across two tests), the runs found by
    bisection are those of the definition: overlapping a run of the other test by half the
    shorter one's time, and sharing no time with a run of any third test."""
    rng = random.Random(1)

    def process(names: list[str]) -> tuple[Attempt, ...]:
        clock, runs = rng.random(), []
        for position in range(rng.randint(0, 30)):
            took = rng.choice([0.001, 0.01, 0.3, 1.0]) * rng.uniform(0.5, 1.5)
            outcome = rng.choice([Outcome.PASSED, Outcome.FAILED])
            runs.append(
                Attempt(
                    "r", 0, rng.choice(names), 0, outcome, clock, clock + took, position=position
                )
            )
            clock += took + rng.choice([0.0, 0.0005, 0.02])
        return tuple(runs)

    def shared(a: Attempt, b: Attempt) -> float:
        return min(a.stopped_at, b.stopped_at) - max(a.started_at, b.started_at)

    def took(run: Attempt) -> float:
        return run.stopped_at - run.started_at

    def by_definition(result: ProbeResult, nodeid: str, other: str) -> list[bool]:
        return [
            a.failed
            for a in result.runs
            if a.nodeid == nodeid
            and any(
                shared(a, b) > 0 and shared(a, b) >= MIN_SHARED * min(took(a), took(b))
                for b in result.beside
                if b.nodeid == other
            )
            and not any(shared(a, b) > 0 for b in result.beside if b.nodeid != other)
        ]

    counted = 0
    for _ in range(2000):
        result = ProbeResult(process(["x", "y"]), process(["c", "y", "z"]))
        for nodeid, other in (("x", "c"), ("x", "y"), ("y", "z")):
            expected = by_definition(result, nodeid, other)
            assert result.side_by_side(nodeid, other) == expected
            counted += len(expected)
    assert counted > 1000  # the co-runs did overlap


def _slow_and_quick(pytester) -> tuple[str, str, Prober]:
    """A module with a 0.6 s test and a quick one: their node ids, and a prober for it."""
    pytester.makepyfile(
        test_probe="""
        import time

        def test_slow():
            time.sleep(0.6)

        def test_quick():
            pass
        """
    )
    prober = Prober(PytestRunner(["-p", "no:cacheprovider"], Path(pytester.path)))
    return "test_probe.py::test_slow", "test_probe.py::test_quick", prober


def test_the_phases_of_a_co_run_start_together(pytester):
    """Both processes start each phase at once, whatever the phase before took in each: here
    the second process's phase 1 is quick, and its phase 2 still waits for the slow test."""
    slow, quick, prober = _slow_and_quick(pytester)
    try:
        probe = Probe((slow, quick), (quick, quick), ("test",), phases=((1, 1),))
        (result,) = prober.run([probe])
    finally:
        prober.close()
    mine_slow, mine_quick = result.runs
    beside_first, beside_second = result.beside
    assert beside_first.stopped_at < mine_slow.started_at + 0.3  # phase 1 started together
    assert beside_second.started_at >= mine_slow.stopped_at - 0.05  # and so did phase 2
    assert mine_quick.started_at >= mine_slow.stopped_at


def test_a_co_run_and_serial_probes_run_at_once_each_reading_its_own_runs(pytester):
    """One call runs a co-run's two processes and two serial probes together: they overlap
    in time, and each result holds the runs of its own process, in its order."""
    slow, quick, prober = _slow_and_quick(pytester)
    probes = [
        Probe((quick, slow), key=("first",)),
        Probe((slow,), (quick, quick, quick), key=("co-run",)),
        Probe((slow, quick, quick), key=("second",)),
    ]
    try:
        first, co_run, second = prober.run(probes)
    finally:
        prober.close()
    assert [a.nodeid for a in first.runs] == [quick, slow]
    assert [a.nodeid for a in co_run.runs] == [slow]
    assert [a.nodeid for a in co_run.beside] == [quick] * 3
    assert [a.nodeid for a in second.runs] == [slow, quick, quick]
    slow_runs = [first.runs[1], co_run.runs[0], second.runs[0]]
    assert max(a.started_at for a in slow_runs) < min(a.stopped_at for a in slow_runs)


def test_a_skipped_run_is_neither_a_pass_nor_a_failure():
    """Confirmation reads passes as evidence (a brittle test passing after its setter): a run
    that skipped did not run the test's code, so it counts as no trial at all."""

    def run(nodeid: str, outcome: Outcome, start: float) -> Attempt:
        return Attempt("r", 0, nodeid, 0, outcome, start, start + 1.0)

    result = ProbeResult(
        (
            run("t", Outcome.PASSED, 0.0),
            run("t", Outcome.SKIPPED, 1.0),
            run("t", Outcome.FAILED, 2.0),
        ),
        (
            run("o", Outcome.PASSED, 0.0),
            run("o", Outcome.PASSED, 1.0),
            run("o", Outcome.PASSED, 2.0),
        ),
    )
    assert result.failures("t") == [False, True]
    assert result.side_by_side("t", "o") == [False, True]
