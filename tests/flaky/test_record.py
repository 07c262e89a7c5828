"""The recorder, exercised through real inner pytest sessions."""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from tenantfixtures.cli import main
from tenantfixtures.flaky.store import (
    Store,
    StoreError,
    _write_ahead_log,
    attempts,
    label,
    meta_table,
)

CLI = "import sys; from tenantfixtures.cli import main; sys.exit(main())"
RERUN_SUITE = """
import pathlib

def test_ok():
    pass

def test_broken():
    assert False

def test_second_try(tmp_path_factory):
    marker = pathlib.Path(__file__).with_name("tried")
    if not marker.exists():
        marker.write_text("1")
        assert False, "first attempt fails"

def test_skipped():
    import pytest
    pytest.skip("not here")
"""


def test_every_attempt_recorded_from_the_controller_under_xdist(pytester, read_attempts):
    pytester.makepyfile(test_mod=RERUN_SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-n", "2", "-p", "rerunfailures", "--reruns", "2",
        "-p", "no:randomly", "--tf-history=h.db",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*1 failed, 2 passed, 1 skipped, 3 rerun*"])
    rows = read_attempts(pytester.path / "h.db")
    by_test = defaultdict(list)
    for row in rows:
        by_test[row["nodeid"].split("::")[1]].append(row)
    assert [(r["attempt"], r["outcome"]) for r in by_test["test_broken"]] == [
        (0, "rerun"),
        (1, "rerun"),
        (2, "failed"),
    ]
    assert [(r["attempt"], r["outcome"]) for r in by_test["test_second_try"]] == [
        (0, "rerun"),
        (1, "passed"),
    ]
    assert [r["outcome"] for r in by_test["test_skipped"]] == ["skipped"]
    assert len(rows) == 7  # no duplicates: workers do not write
    assert {r["worker"] for r in rows} <= {"gw0", "gw1"}
    positions = defaultdict(set)
    for row in rows:
        positions[row["worker"]].add((row["position"], row["nodeid"]))
    for worker, seen in positions.items():
        assert sorted(p for p, _ in seen) == list(range(len(seen))), worker
    assert all(r["stopped_at"] >= r["started_at"] > 0 for r in rows)
    assert all(r["duration"] >= 0 for r in rows)
    assert not list((pytester.path / "h.db.spool").glob("*.jsonl"))


def test_run_metadata_and_randomly_seed(pytester, monkeypatch, read_attempts, read_runs):
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_JOB", "tests")
    monkeypatch.setenv("TENANTFIXTURES_SHARD", "2/4")
    # tf_seed turns the factories' seeding on (it is inert until used)
    pytester.makepyfile("def test_a(tf_seed): pass\ndef test_b(tf_seed): pass\n")
    pytester.makeini("[pytest]\ntenantfixtures_history = ini.db\n")
    result = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "randomly", "--randomly-seed=4242"
    )
    result.assert_outcomes(passed=2)
    (run,) = read_runs(pytester.path / "ini.db")
    assert (run["commit"], run["branch"], run["ci_job"], run["shard"]) == (
        "abc123",
        "main",
        "tests#77",
        "2/4",
    )
    assert run["python"]
    assert run["platform"]
    assert (run["seed"], run["seed_source"], run["data_seed"]) == (4242, "randomly", 4242)
    assert run["rootdir"] == str(pytester.path)
    assert run["finished_at"] >= run["started_at"]
    assert run["exitstatus"] == 0
    # Each attempt keeps its test's own data seed, derived from pytest-randomly's: replayable.
    seeds = [r["seed"] for r in read_attempts(pytester.path / "ini.db")]
    rerun = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "randomly", "--randomly-seed=4242"
    )
    rerun.assert_outcomes(passed=2)
    assert [r["seed"] for r in read_attempts(pytester.path / "ini.db")][2:] == seeds
    assert len(set(seeds)) == 2


def test_nothing_registered_without_the_option(pytester):
    pytester.makepyfile(
        """
        def test_no_recorder(pytestconfig):
            assert pytestconfig.pluginmanager.get_plugin("tf-recorder") is None
            assert pytestconfig.pluginmanager.get_plugin("tf-order") is None
        """
    )
    pytester.runpytest_subprocess("-p", "tenantfixtures").assert_outcomes(passed=1)
    assert not list(pytester.path.glob("*.db"))
    assert not list(pytester.path.glob("*.spool"))


def test_corrupt_store_keeps_records_in_spool_then_imports_them(pytester, read_attempts):
    pytester.makepyfile("def test_a(): pass\ndef test_b(): assert 0\n")
    db = pytester.path / "h.db"
    db.write_bytes(b"this is not a sqlite database" * 100)
    result = pytester.runpytest_subprocess("-p", "tenantfixtures", "--tf-history=h.db")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ERROR: history store 'h.db' failed to open*kept in*"])
    assert len(list((pytester.path / "h.db.spool").glob("*.jsonl"))) == 1
    db.unlink()
    pytester.runpytest_subprocess("-p", "tenantfixtures", "--tf-history=h.db").assert_outcomes(
        passed=1, failed=1
    )
    rows = read_attempts(db)
    assert len(rows) == 4
    assert len({r["run_id"] for r in rows}) == 2
    assert not list((pytester.path / "h.db.spool").glob("*.jsonl"))


def test_killed_run_keeps_every_finished_attempt(pytester, read_attempts):
    pytester.makepyfile(
        """
        import os, signal
        def test_1(): pass
        def test_2(): assert 0
        def test_3(): os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", "--tf-history=h.db"
    )
    assert result.ret not in (0, 1)
    pytester.makepyfile(test_later="def test_later(): pass\n")
    pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "--tf-history=h.db", "test_later.py"
    ).assert_outcomes(passed=1)
    outcomes = sorted((r["nodeid"], r["outcome"]) for r in read_attempts(pytester.path / "h.db"))
    assert outcomes == [
        ("test_killed_run_keeps_every_finished_attempt.py::test_1", "passed"),
        ("test_killed_run_keeps_every_finished_attempt.py::test_2", "failed"),
        ("test_later.py::test_later", "passed"),
    ]


def test_unusable_url_is_a_clear_error_and_the_run_completes(pytester):
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest_subprocess("-p", "tenantfixtures", "--tf-history=nosuchdb://x/y")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*ERROR: cannot use history store 'nosuchdb://x/y'*"])
    assert result.ret == 0


@pytest.fixture
def pg_url():
    url = os.environ.get("TENANTFIXTURES_TEST_PG_URL")
    if not url:
        pytest.skip("TENANTFIXTURES_TEST_PG_URL is not set (bash scripts/postgres.sh prints one)")
    name = f"tf_flaky_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_postgres_store_takes_concurrent_runners(pytester, pg_url):
    pytester.makepyfile(
        "import pytest\n@pytest.mark.parametrize('i', range(150))\ndef test_p(i): assert i % 50\n"
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "tenantfixtures",
        "-q",
        f"--tf-history={pg_url}",
    ]
    procs = [
        subprocess.Popen(
            command, cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [1, 1, 1]
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(attempts)).scalar()
        runs = conn.execute(sa.select(sa.func.count(sa.distinct(attempts.c.run_id)))).scalar()
        failed = conn.execute(
            sa.select(sa.func.count()).where(attempts.c.outcome == "failed")
        ).scalar()
    engine.dispose()
    assert (total, runs, failed) == (450, 3, 9)


def test_newer_schema_version_is_refused_with_the_fix(tmp_path):
    db = tmp_path / "h.db"
    Store(str(db)).close()
    store = Store(str(db))
    with store.engine.begin() as conn:
        conn.execute(sa.update(meta_table).values(value="99"))
    store.close()
    with pytest.raises(StoreError, match=r"schema version 99, newer .* upgrade tenantfixtures"):
        Store(str(db))


def test_each_attempt_keeps_the_tests_own_data_seed(pytester, read_attempts):
    """The factories plugin's per-test seed reaches the history, so a failure can be replayed."""
    pytester.makepyfile(
        test_seeds="""
        import json, pathlib

        def test_a(request):
            seeds = dict(request.node.user_properties)
            pathlib.Path("seed_a.json").write_text(json.dumps(seeds["tenantfixtures_seed"]))

        def test_b(request):
            seeds = dict(request.node.user_properties)
            pathlib.Path("seed_b.json").write_text(json.dumps(seeds["tenantfixtures_seed"]))
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-n", "2", "--tf-seed=12345", "--tf-history=h.db"
    )
    result.assert_outcomes(passed=2)
    recorded = {
        row["nodeid"].split("::")[1]: row["seed"] for row in read_attempts(pytester.path / "h.db")
    }
    expected = {
        name: int((pytester.path / f"seed_{name[-1]}.json").read_text()) for name in recorded
    }
    assert recorded == expected
    assert recorded["test_a"] != recorded["test_b"]


def test_killed_xdist_worker_is_one_crashed_row_not_a_flaky_phantom(pytester, read_attempts):
    pytester.makepyfile(
        test_crash="""
        import os, signal
        def test_fine(): pass
        def test_kills_worker(): os.kill(os.getpid(), signal.SIGKILL)
        def test_after(): pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-n", "2", "-p", "no:randomly", "--tf-history=h.db",
        "--junitxml=junit.xml",
    )  # fmt: skip
    assert result.ret == 1
    rows = read_attempts(pytester.path / "h.db")
    junit = ElementTree.parse(pytester.path / "junit.xml").getroot()
    assert len(rows) == len(junit.findall(".//testcase")) == 3
    crashed = [r for r in rows if r["nodeid"].endswith("test_kills_worker")]
    assert [(r["outcome"], r["worker"] is not None) for r in crashed] == [("crashed", True)]
    assert "crashed while running" in crashed[0]["message"]
    out = pytester.path / "r.json"
    assert (
        main(["report", f"--history={pytester.path / 'h.db'}", "--format=json", f"-o={out}"]) == 0
    )
    test = next(t for t in json.loads(out.read_text())["tests"] if t["crashes"])
    assert test["classification"] == "stable"  # no flip: a crash says nothing about the code
    assert (test["attempts"], test["failures"], test["crashes"]) == (0, 0, 1)
    assert "worker crashed 1x" in test["evidence"]
    for fmt, shown in (("md", "worker crashed 1x"), ("html", "worker crashed 1&times;")):
        assert main(["report", f"--history={pytester.path / 'h.db'}", f"--format={fmt}",
                     f"-o={out}"]) == 0  # fmt: skip
        assert shown in out.read_text()


def test_history_url_password_is_never_printed(pytester):
    pytester.makepyfile("def test_a(): pass\n")
    url = "postgresql+psycopg://tf:s3cr3t@127.0.0.1:1/flaky"
    result = pytester.runpytest_subprocess("-p", "tenantfixtures", f"--tf-history={url}")
    result.assert_outcomes(passed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "ERROR: history store 'postgresql+psycopg://tf:***@127.0.0.1:1/flaky'" in output
    assert "s3cr3t" not in output
    done = subprocess.run(
        [sys.executable, "-c", CLI, "report", f"--history={url}"],
        capture_output=True, text=True, cwd=pytester.path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "history store 'postgresql+psycopg://tf:" in done.stderr
    assert "s3cr3t" not in done.stdout + done.stderr
    assert label(url) == "postgresql+psycopg://tf:***@127.0.0.1:1/flaky"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://tf@127.0.0.1:1/flaky?password=s3cr3t",
        "postgresql+psycopg://tf:s3c@r3t@127.0.0.1:1/flaky",  # an unescaped @ in the password
    ],
    ids=["query", "at-sign"],
)
def test_password_in_the_query_or_with_an_at_sign_is_never_printed(pytester, url):
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest_subprocess("-p", "tenantfixtures", f"--tf-history={url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["ERROR: history store 'postgresql+psycopg://tf*' failed to open*"])
    done = subprocess.run(
        [sys.executable, "-c", CLI, "report", f"--history={url}"],
        capture_output=True, text=True, cwd=pytester.path,
    )  # fmt: skip
    assert done.returncode == 2
    for output in (result.stdout.str() + result.stderr.str(), done.stdout + done.stderr):
        assert "s3c" not in output
        assert "r3t" not in output


def test_a_database_where_sqlite_keeps_its_journal_mode_opens_without_waiting():
    """Where WAL cannot be had, SQLite answers the switch with the old mode and no error (an
    in-memory database here, a file system without shared memory in the field): the store
    goes on in that mode instead of asking again until the busy timeout."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    returned: list[None] = []
    opened = threading.Thread(
        target=lambda: returned.append(_write_ahead_log(connection)), daemon=True
    )
    opened.start()
    opened.join(timeout=5)
    assert returned == [None], "still asking for WAL after 5 s"
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "memory"


def test_eight_processes_open_one_fresh_history(tmp_path):
    """As xdist workers do with a new history file. SQLite refuses the switch to WAL at once,
    without waiting, while another process holds the file: before that was retried, one open
    in about twenty of these trials failed with "database is locked"."""
    script = (
        "import sys; from tenantfixtures.flaky.store import Store; "
        "Store(sys.argv[1]).close(); print('ok')"
    )
    for trial in range(10):
        db = tmp_path / f"h{trial}.db"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )
            for _ in range(8)
        ]  # fmt: skip
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, [err for _, err in results]
        with Store(str(db)).connect() as conn:
            version = conn.execute(sa.select(meta_table.c.value)).scalars().all()
        assert version == ["2"]


def test_keys_in_node_ids_are_stored_redacted(pytester, read_attempts):
    key = "sk-or-v1-" + "ab12" * 12
    pytester.makepyfile(
        f"""
        import pytest
        @pytest.mark.parametrize("k", ["{key}"])
        def test_x(k):
            assert k == "other", "got " + k
        """
    )
    pytester.runpytest_subprocess("-p", "tenantfixtures", "--tf-history=h.db").assert_outcomes(
        failed=1
    )
    (row,) = read_attempts(pytester.path / "h.db")
    assert key not in row["nodeid"]
    assert row["nodeid"].endswith("test_x[sk-…REDACTED]")
    assert key not in row["message"]


def test_postgres_success_line_hides_the_password(pytester, pg_url):
    url = sa.make_url(pg_url).set(password="s3cr3t").render_as_string(hide_password=False)
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest_subprocess("-p", "tenantfixtures", f"--tf-history={url}")
    result.assert_outcomes(passed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "s3cr3t" not in output
    result.stdout.fnmatch_lines(
        ["tenantfixtures: 1 attempts recorded in postgresql+psycopg://*:***@*"]
    )
    assert main(["report", f"--history={url}", "--format=md"]) == 0
