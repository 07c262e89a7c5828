"""``tenantfixtures replay`` and ``tenantfixtures durations``, over real recorded runs."""

import json
import subprocess
import sys

import pytest

from tenantfixtures.cli import main

CLI = "import sys; from tenantfixtures.cli import main; sys.exit(main())"
SUITE = {
    "test_a_polluter": "import state\n\ndef test_polluter():\n    state.LEAKED.add('x')\n",
    "test_b_other": "def test_other():\n    pass\n",
    "test_c_victim": "import state\n\ndef test_victim():\n    assert 'x' not in state.LEAKED\n",
}


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_replay_reruns_the_recorded_order_and_seed(pytester):
    pytester.makepyfile(state="LEAKED = set()\n", **SUITE)
    pytester.makeini("[pytest]\npythonpath = .\n")
    pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", "--tf-seed=777", "--tf-history=h.db"
    ).assert_outcomes(passed=2, failed=1)
    alone = pytester.runpytest_subprocess("-p", "tenantfixtures", "test_c_victim.py")
    alone.assert_outcomes(passed=1)  # alone it passes: only the recorded order fails it
    done = _cli("replay", "--history=h.db", "test_c_victim.py::test_victim", cwd=pytester.path)
    assert done.returncode == 1, done.stderr  # failed again
    assert "--tf-seed=777" in done.stderr
    assert "after 2 other test(s) in its process, 1 process(es) at once" in done.stderr
    assert "1 failed, 2 passed" in done.stdout
    missing = _cli("replay", "--history=h.db", "test_b_other.py::test_other", cwd=pytester.path)
    assert missing.returncode == 2
    assert "no failing attempt of test_b_other.py::test_other" in missing.stderr


def test_replay_keeps_the_xdist_worker_split(pytester):
    pytester.makepyfile(state="LEAKED = set()\n", **SUITE)
    pytester.makeini("[pytest]\npythonpath = .\n")
    for _ in range(6):  # until the victim shares a worker with the polluter
        pytester.runpytest_subprocess(
            "-p", "tenantfixtures", "-n", "2", "-p", "no:randomly", "--tf-history=h.db"
        )  # fmt: skip
        dry = _cli(
            "replay", "--history=h.db", "test_c_victim.py::test_victim", "--dry-run",
            cwd=pytester.path,
        )  # fmt: skip
        if dry.returncode == 0:
            break
    assert dry.returncode == 0, dry.stderr
    processes: dict[str, list[str]] = {}
    current = ""
    for line in dry.stdout.splitlines():
        if line.startswith("# "):
            current = line[2:]
        else:
            processes.setdefault(current, []).append(line)
    assert set(processes) <= {"gw0", "gw1"}
    mine = next(p for p in processes.values() if p[-1] == "test_c_victim.py::test_victim")
    assert "test_a_polluter.py::test_polluter" in mine  # the recorded worker's order
    replayed = _cli("replay", "--history=h.db", "test_c_victim.py::test_victim", cwd=pytester.path)
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr


def test_durations_export_pytest_split_format(pytester, tmp_path):
    pytester.makepyfile(
        test_d="import time\n\ndef test_slow():\n    time.sleep(1.5)\n\n"
        "def test_fast():\n    pass\n"
    )
    for _ in range(3):
        pytester.runpytest_subprocess("-p", "tenantfixtures", "--tf-history=h.db")
    out = tmp_path / ".test_durations"
    db = pytester.path / "h.db"
    assert main(["durations", f"--history={db}", f"--output={out}"]) == 0
    durations = json.loads(out.read_text())
    assert set(durations) == {"test_d.py::test_slow", "test_d.py::test_fast"}
    assert all(isinstance(v, float) for v in durations.values())
    assert durations["test_d.py::test_slow"] >= 1.5  # far above a loaded machine's noise
    assert durations["test_d.py::test_slow"] > durations["test_d.py::test_fast"]


def test_help_states_defaults_and_no_markup(capsys):
    for command in ("nightly", "report", "replay", "durations", "ingest"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "``" not in text, command
        if command == "nightly":
            assert "required" not in text
            assert "(default: 10)" in " ".join(text.split())
            assert "--rounds N] [options]" in text
