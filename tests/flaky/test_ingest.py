"""``tenantfixtures ingest``: JUnit XML from pytest and from other tools."""

import json

from tenantfixtures.cli import main

OTHER_TOOL = """<?xml version="1.0"?>
<testsuites><testsuite name="java" timestamp="2026-01-02T03:04:05">
  <testcase classname="com.acme.BillingTest" name="charges" time="0.5">
    <flakyFailure message="timeout Authorization: Bearer sk-abcdefghijklmnop"/>
  </testcase>
  <testcase classname="com.acme.BillingTest" name="refunds" time="0.1">
    <failure message="expected 3">trace</failure>
  </testcase>
  <testcase classname="com.acme.BillingTest" name="skips"><skipped/></testcase>
</testsuite></testsuites>
"""


def test_ingest_pytest_and_foreign_junit(pytester, tmp_path, capsys, read_attempts, read_runs):
    pytester.makepyfile(test_shard="def test_a(): pass\ndef test_b(): assert 0\n")
    pytester.runpytest_subprocess("--junitxml=shard.xml").assert_outcomes(passed=1, failed=1)
    other = tmp_path / "other.xml"
    other.write_text(OTHER_TOOL)
    db = tmp_path / "h.db"
    args = ["ingest", f"--history={db}", f"--rootdir={pytester.path}", "--commit=deadbeef"]
    assert main([*args, str(pytester.path / "shard.xml"), str(other), "--shard=1/2"]) == 0
    rows = read_attempts(db)
    got = sorted((r["nodeid"], r["attempt"], r["outcome"]) for r in rows)
    assert got == [
        ("com.acme.BillingTest::charges", 0, "rerun"),
        ("com.acme.BillingTest::charges", 1, "passed"),
        ("com.acme.BillingTest::refunds", 0, "failed"),
        ("com.acme.BillingTest::skips", 0, "skipped"),
        ("test_shard.py::test_a", 0, "passed"),
        ("test_shard.py::test_b", 0, "failed"),
    ]
    assert all("sk-abcdefghijklmnop" not in (r["message"] or "") for r in rows)
    assert {(r["commit"], r["shard"]) for r in read_runs(db)} == {("deadbeef", "1/2")}
    assert main([*args, str(other)]) == 0  # idempotent
    assert "already imported" in capsys.readouterr().out
    assert len(read_attempts(db)) == len(rows)
    out = tmp_path / "r.json"
    assert main(["report", f"--history={db}", "--format=json", f"--output={out}"]) == 0
    classes = {t["nodeid"]: t["classification"] for t in json.loads(out.read_text())["tests"]}
    assert classes["com.acme.BillingTest::charges"] == "flaky"
    assert classes["test_shard.py::test_b"] == "broken"


def test_ingest_rejects_non_junit(tmp_path, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_text("not xml at all")
    assert main(["ingest", f"--history={tmp_path / 'h.db'}", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tenantfixtures ingest: error:")
    assert "is not XML" in err
    bad.write_text("<html/>")
    assert main(["ingest", f"--history={tmp_path / 'h.db'}", str(bad)]) == 2
    assert "is not <testsuites>" in capsys.readouterr().err
