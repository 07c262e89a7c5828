"""Order control in real inner sessions: a selected test that comes back runs from fresh
fixtures in the same process, and sessions told to start together do."""

import json
import os
import subprocess
import sys
import time

from tenantfixtures.flaky.order import START_TOGETHER_ENV

REPEATS_SUITE = """
import pytest

RUNS = []  # module state: survives between runs in one process, as leaked state does
EVENTS = []


@pytest.fixture(scope="module")
def module_resource():
    EVENTS.append("module up")
    yield
    EVENTS.append("module down")


@pytest.fixture
def fresh():
    EVENTS.append("function up")
    yield []
    EVENTS.append("function down")


def test_again(module_resource, fresh):
    assert fresh == []  # a new fixture value each run
    fresh.append(1)
    RUNS.append(len(RUNS))


def test_between():
    pass


def test_report():
    import json, pathlib
    pathlib.Path("events.json").write_text(json.dumps({"runs": RUNS, "events": EVENTS}))
"""


def test_a_repeated_selection_reruns_the_test_in_one_process_from_fresh_fixtures(
    pytester, read_attempts
):
    pytester.makepyfile(test_mod=REPEATS_SUITE)
    again, between = "test_mod.py::test_again", "test_mod.py::test_between"
    selection = [again, again, again, between, again, "test_mod.py::test_report"]
    pytester.path.joinpath("selection.txt").write_text("\n".join(selection) + "\n")
    result = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", "--tf-select=selection.txt",
        "--tf-history=h.db",
    )  # fmt: skip
    result.assert_outcomes(passed=6)
    seen = json.loads(pytester.path.joinpath("events.json").read_text())
    assert seen["runs"] == [0, 1, 2, 3]  # one process: the module's list kept every run
    events = seen["events"]
    assert events.count("function up") == events.count("function down") == 4
    # Back to back, the test is torn down completely (its module fixture too) between runs.
    first_run = ["module up", "function up", "function down", "module down"]
    assert events[:6] == [*first_run, "module up", "function up"]
    rows = read_attempts(pytester.path / "h.db")
    assert [(r["nodeid"], r["position"], r["attempt"]) for r in rows] == [
        (nodeid, position, 0) for position, nodeid in enumerate(selection)
    ]


TIMED_SUITE = """
import json, os, pathlib, time

def test_started():
    name = os.environ["WHO"]
    pathlib.Path(f"started-{name}.json").write_text(json.dumps(time.time()))
"""


def test_sessions_told_to_start_together_wait_for_each_other(pytester):
    """The second session starts 3 s late; the first waits for it after collection."""
    pytester.makepyfile(test_timed=TIMED_SUITE)
    gate = pytester.mkdir("gate")
    command = [sys.executable, "-m", "pytest", "-p", "tenantfixtures", "-q", "-p", "no:randomly"]
    command += ["--tf-select=selection.txt"]
    pytester.path.joinpath("selection.txt").write_text("test_timed.py::test_started\n")
    processes = []
    for who in ("early", "late"):
        env = {**os.environ, START_TOGETHER_ENV: f"{gate}:2", "WHO": who}
        processes.append(subprocess.Popen(command, cwd=pytester.path, env=env))
        time.sleep(3.0 if who == "early" else 0)
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    early, late = (
        json.loads(pytester.path.joinpath(f"started-{who}.json").read_text())
        for who in ("early", "late")
    )
    assert abs(late - early) < 1.5  # without the gate: 3 s apart or more
    assert sorted(os.listdir(gate)) == sorted(f"0-{p.pid}" for p in processes)  # phase 0
