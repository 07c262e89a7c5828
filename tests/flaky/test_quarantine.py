"""Quarantine: listed tests run and are recorded but cannot fail the build; expiry is loud."""

import datetime as dt
import json

from tenantfixtures.cli import main
from tenantfixtures.flaky.models import Attempt, Outcome, Run
from tenantfixtures.flaky.store import Store

SUITE = """
def test_quarantined():
    assert False, "known flaky"

def test_fine():
    pass
"""


def _entry(test: str, expires: dt.date) -> str:
    return (
        f'[[quarantine]]\ntest = "{test}"\nowner = "alice"\nreason = "shared port"\n'
        f"expires = {expires.isoformat()}\n"
    )


def test_quarantined_failure_does_not_fail_the_build(pytester, read_attempts):
    pytester.makepyfile(test_q=SUITE)
    future = dt.date.today() + dt.timedelta(days=30)
    pytester.path.joinpath("tenantfixtures-quarantine.toml").write_text(
        _entry("test_q.py::test_quarantined", future)
    )
    result = pytester.runpytest_subprocess("-p", "tenantfixtures", "-n", "2", "--tf-history=h.db")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*quarantined failure (does not fail the build): test_q.py::test_quarantined"]
    )
    outcomes = {r["nodeid"]: r["outcome"] for r in read_attempts(pytester.path / "h.db")}
    assert outcomes == {"test_q.py::test_quarantined": "failed", "test_q.py::test_fine": "passed"}
    pytester.makepyfile(test_other="def test_other(): assert 0\n")
    assert pytester.runpytest_subprocess("-p", "tenantfixtures").ret == 1  # others still fail it


def test_expired_or_malformed_entries_fail_loudly(pytester):
    pytester.makepyfile(test_q=SUITE)
    past = dt.date.today() - dt.timedelta(days=1)
    qfile = pytester.path / "q.toml"
    qfile.write_text(_entry("test_q.py::test_quarantined", past))
    pytester.makeini("[pytest]\ntenantfixtures_quarantine = q.toml\n")
    result = pytester.runpytest_subprocess("-p", "tenantfixtures")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*1 quarantine entry expired:*", "*test_q.py::test_quarantined (owner alice, expired*",
         "*fix the test and remove its entry, or extend 'expires'*"]
    )  # fmt: skip
    qfile.write_text('[[quarantine]]\ntest = "x"\n')
    result = pytester.runpytest_subprocess("-p", "tenantfixtures")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*entry 1 lacks owner, reason, expires*"])
    assert main(["quarantine", "check", str(qfile)]) == 2
    qfile.write_text(_entry("a::b", past))
    assert main(["quarantine", "check", str(qfile)]) == 1
    qfile.write_text(_entry("a::b", dt.date.today() + dt.timedelta(days=1)))
    assert main(["quarantine", "check", str(qfile)]) == 0


def test_report_suggests_release_after_clean_runs(pytester, tmp_path):
    pytester.makepyfile(test_q="def test_quarantined(): pass\ndef test_other(): pass\n")
    qfile = tmp_path / "q.toml"
    qfile.write_text(_entry("test_q.py::test_quarantined", dt.date.today() + dt.timedelta(days=9)))
    for _ in range(3):
        pytester.runpytest_subprocess(
            "-p", "tenantfixtures", f"--tf-quarantine={qfile}", "--tf-history=h.db"
        ).assert_outcomes(passed=2)
    out = tmp_path / "r.json"
    db = pytester.path / "h.db"
    args = [
        "report",
        f"--history={db}",
        f"--quarantine={qfile}",
        "--format=json",
        f"--output={out}",
    ]
    assert main([*args, "--release-after=3"]) == 0
    data = json.loads(out.read_text())
    assert data["release_suggested"] == ["test_q.py::test_quarantined"]
    quarantined = {t["nodeid"]: t["quarantine"] for t in data["tests"]}
    assert quarantined["test_q.py::test_quarantined"]["owner"] == "alice"
    assert quarantined["test_q.py::test_other"] is None
    assert main([*args, "--release-after=4"]) == 0
    assert json.loads(out.read_text())["release_suggested"] == []


def test_unknown_tables_and_keys_are_errors_not_silence(tmp_path, capsys):
    qfile = tmp_path / "q.toml"
    typo = _entry("a::b", dt.date(2020, 1, 1)).replace("[[quarantine]]", "[[quarantined]]")
    qfile.write_text(typo)
    assert main(["quarantine", "check", str(qfile)]) == 2
    err = capsys.readouterr().err
    assert "unknown table or key 'quarantined' (did you mean 'quarantine'?)" in err
    assert "all valid" not in err
    qfile.write_text(_entry("a::b", dt.date.today()) + 'expiry = "soon"\n')
    assert main(["quarantine", "check", str(qfile)]) == 2
    assert "entry 1 has unknown key 'expiry' (did you mean 'expires'?)" in capsys.readouterr().err
    qfile.write_text(_entry("a::b", dt.date(2020, 1, 1)))
    assert main(["quarantine", "check", str(qfile)]) == 1
    assert "a::b (owner alice, expired 2020-01-01" in capsys.readouterr().err


def test_report_does_not_apply_an_expired_entry(tmp_path, capsys):
    db = tmp_path / "h.db"
    store = Store(str(db))
    store.add_run(Run(run_id="r1", started_at=1.0))
    store.add_attempts([Attempt("r1", 1, "a::b", 0, Outcome.FAILED, 1.0, 2.0)])
    store.close()
    qfile = tmp_path / "q.toml"
    qfile.write_text(_entry("a::b", dt.date(2020, 1, 1)))
    out = tmp_path / "r.json"
    args = ["report", f"--history={db}", f"--quarantine={qfile}", "--format=json", f"-o={out}"]
    assert main(args) == 0
    assert "a::b (owner alice, expired 2020-01-01" in capsys.readouterr().err
    (test,) = json.loads(out.read_text())["tests"]
    assert test["quarantine"] is None
