"""Guards on the sandbox: escapes, cross-tenant access (marker form) and query counts."""

import os

import pytest

from tests.conftest import run_offline

ESCAPES = """
import sqlite3
import threading
import pytest

def test_sqlite_outside_the_sandbox(tenancy):
    sqlite3.connect("elsewhere.db").close()

def test_writing_under_the_data_dir_is_served_from_the_sandbox(tenancy):
    with open("data/defaults/log.txt", "w") as log:
        log.write("the test's own")

def test_swallowed_in_a_thread(tenancy):
    def worker():
        try:
            sqlite3.connect("elsewhere.db").close()
        except Exception:
            pass

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()

def test_reading_the_real_data_dir_is_fine(tenancy):
    with open("data/defaults/readme.txt") as shipped:
        assert shipped.read() == "shipped with the app\\n"

def test_tmp_path_databases_are_fine(tenancy, tmp_path):
    sqlite3.connect(tmp_path / "scratch.db").close()

@pytest.mark.allow_path("elsewhere.db")
def test_allowed_by_marker(tenancy):
    sqlite3.connect("elsewhere.db").close()
"""


def test_escapes_fail_with_the_path_and_the_fix(mini_project, isolation):
    mini_project.makepyfile(test_escapes=ESCAPES)
    result = mini_project.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", isolation
    )
    result.assert_outcomes(passed=4, failed=2)
    root = mini_project.path
    result.stdout.fnmatch_lines(
        [
            f"sandbox escape: the test opened the SQLite database {root}/elsewhere.db;"
            " its sandbox is *",
        ]
    )
    assert "@pytest.mark.allow_path(...)" in result.stdout.str()
    assert not (root / "data" / "defaults" / "log.txt").exists()
    assert "FAILED test_escapes.py::test_swallowed_in_a_thread" in result.stdout.str()


@pytest.mark.parametrize(("mode", "outcome"), [("warn", {"passed": 6}), ("off", {"passed": 6})])
def test_guard_modes(mini_project, mode, outcome):
    mini_project.makepyfile(test_escapes=ESCAPES)
    result = mini_project.runpytest_subprocess("-p", "tenantfixtures", f"--tf-guard={mode}")
    result.assert_outcomes(**outcome)
    warned = "GuardViolationWarning: sandbox escape: " in result.stdout.str()
    assert warned == (mode == "warn")


def test_ini_allowed_paths(mini_project):
    mini_project.makeini("[pytest]\npythonpath = .\ntenantfixtures_allowed_paths = elsewhere.db\n")
    mini_project.makepyfile(test_escapes=ESCAPES)
    result = mini_project.runpytest_subprocess("-p", "tenantfixtures", "-p", "no:randomly")
    result.assert_outcomes(passed=6)


@pytest.mark.skipif(
    not os.environ.get("TENANTFIXTURES_TEST_PG_URL"),
    reason="needs a PostgreSQL server: TENANTFIXTURES_TEST_PG_URL (CI starts one)",
)
def test_other_database_urls_are_escapes_too(mini_project):
    url = os.environ["TENANTFIXTURES_TEST_PG_URL"]
    mini_project.makepyfile(
        test_pg=f"""
        import pytest
        from sqlalchemy import create_engine, text

        def test_pg(tenancy):
            engine = create_engine("{url}")
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        @pytest.mark.allow_path("postgresql+psycopg://postgres@")
        def test_pg_allowed(tenancy):
            engine = create_engine("{url}")
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
        """
    )
    result = mini_project.runpytest_subprocess("-p", "tenantfixtures", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the test connected to the PostgreSQL database postgresql+psycopg://*, which"
            " tenantfixtures does not sandbox (SQLite files only)*"
            "allow it with @pytest.mark.allow_path('postgresql+psycopg://*"
        ]
    )
    assert "Open databases through the app's data dir" not in result.stdout.str()


def test_tenant_scope_marker(mini_project):
    mini_project.makepyfile(
        test_scope="""
        import pytest
        import miniapp

        @pytest.mark.tenant_scope("acme")
        def test_stays_in_acme(tenancy):
            miniapp.add_note("acme", "fine")

        @pytest.mark.tenant_scope("acme")
        def test_reads_globex(tenancy):
            tenancy.add_tenant("globex")
            miniapp.notes("globex")

        @pytest.mark.tenant_scope("acme")
        def test_swallows_the_error(tenancy):
            try:
                miniapp.notes("globex")
            except Exception:
                pass
        """
    )
    result = mini_project.runpytest_subprocess("-p", "tenantfixtures", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["cross-tenant access: tenant 'globex' was touched inside only('acme'): *"]
    )


def test_query_counts_catch_n_plus_one(mini_project):
    mini_project.makepyfile(
        test_queries="""
        import pytest
        import tenantfixtures
        import miniapp
        from sqlalchemy import text

        def notes_one_by_one(org_id):
            engine = miniapp.get_tenant_engine(org_id)
            with engine.connect() as conn:
                ids = [r[0] for r in conn.execute(text("SELECT id FROM notes"))]
                one = text("SELECT body FROM notes WHERE id = :i")
                return [conn.execute(one, {"i": i}).scalar() for i in ids]

        def test_counts(tenancy):
            for body in "abc":
                miniapp.add_note("acme", body)
            with tenancy.assert_queries(max=1, tenant="acme") as captured:
                assert miniapp.notes("acme") == ["a", "b", "c"]
            assert captured.statements == ["SELECT body FROM notes ORDER BY id"]
            assert tenancy.queries.count(tenant="acme") >= 4
            assert tenancy.queries.count(system=True) == 0

        def test_n_plus_one(tenancy):
            for body in "abc":
                miniapp.add_note("acme", body)
            with tenancy.assert_queries(max=2, tenant="acme"):
                notes_one_by_one("acme")
        """
    )
    result = mini_project.runpytest_subprocess("-p", "tenantfixtures", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*QueryCountError: expected at most 2 queries on tenant 'acme', got 4:",
            "*1. SELECT id FROM notes",
            "*2. SELECT body FROM notes WHERE id = ?",
        ]
    )


# One violation log for the four guards (issue 10): a violation the code caught still fails the
# phase it happened in, teardown included, with one message style; warn mode warns once each.
# Network destinations are TEST-NET-2/3 (198.51.100.0/24, 203.0.113.0/24): refused before any
# packet leaves; the warn-mode session, which lets them through, runs without a network.

SWALLOWED = """
import socket
import sqlite3

import httpx
import pytest

import miniapp


def test_escape(tenancy):
    try:
        sqlite3.connect("elsewhere.db").close()  # escape
    except Exception:
        pass


def test_network(tenancy):
    try:
        socket.create_connection(("198.51.100.7", 80), timeout=0.2)  # network
    except Exception:
        pass


@pytest.mark.tenant_scope("acme")
def test_tenant_scope(tenancy):
    tenancy.add_tenant("globex")
    try:
        miniapp.notes("globex")
    except Exception:
        pass


def test_only_block(tenancy):
    tenancy.add_tenant("globex")
    with tenancy.only("acme"):
        try:
            miniapp.notes("globex")
        except Exception:
            pass


def test_openrouter(openrouter):
    try:
        httpx.post(  # openrouter
            "https://openrouter.ai/api/v1/chat/completions", json={"model": "m", "messages": []}
        )
    except Exception:
        pass


@pytest.fixture
def escapes_in_teardown(tenancy):
    yield
    try:
        sqlite3.connect("teardown.db").close()  # teardown escape
    except Exception:
        pass


@pytest.fixture
def reaches_out_in_teardown(tenancy):
    yield
    try:
        socket.create_connection(("203.0.113.8", 443), timeout=0.2)  # teardown network
    except Exception:
        pass


def test_escape_in_teardown(escapes_in_teardown):
    pass


def test_network_in_teardown(reaches_out_in_teardown):
    pass
"""
CAUGHT = "(the code under test caught the error; tenantfixtures fails the {phase} all the same)"


def line_of(marker: str) -> int:
    return next(n for n, line in enumerate(SWALLOWED.splitlines()) if marker in line)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_swallowed_violation_fails_its_phase_with_one_message_style(mini_project, workers):
    mini_project.makepyfile(test_swallowed=SWALLOWED)
    result = mini_project.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", "-rA", *workers
    )
    result.assert_outcomes(failed=5, passed=2, errors=2)
    out = result.stdout.str()
    root = mini_project.path
    name = "test_swallowed.py"
    result.stdout.fnmatch_lines(
        [
            f"sandbox escape: the test opened the SQLite database {root}/elsewhere.db; *",
            f"  (from {name}:{line_of('# escape')} in test_escape)",
            CAUGHT.format(phase="call"),
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"network guard: {name}::test_network tried to reach the real network:"
            " 198.51.100.7:80.",
            "Mock it *",
            f"  (from {name}:{line_of('# network')} in test_network)",
            CAUGHT.format(phase="call"),
        ]
    )
    for test in ("test_tenant_scope", "test_only_block"):
        assert f"FAILED {name}::{test} - Failed: cross-tenant access" in out
    result.stdout.fnmatch_lines(
        [
            "cross-tenant access: tenant 'globex' was touched inside only('acme'): connect",
            "  (from miniapp.py:* in get_tenant_engine)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "openrouter: nothing scripted for model 'm' *",
            f"  (from {name}:{line_of('# openrouter')} in test_openrouter)",
            CAUGHT.format(phase="call"),
        ]
    )
    # teardown: the body passed, the fixture's teardown errors
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_escape_in_teardown*",
            f"sandbox escape: the test opened the SQLite database {root}/teardown.db; *",
            f"  (from {name}:{line_of('# teardown escape')} in escapes_in_teardown)",
            CAUGHT.format(phase="teardown"),
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_network_in_teardown*",
            f"network guard: {name}::test_network_in_teardown tried to reach the real network:"
            " 203.0.113.8:443.",
            "Mock it *",
            f"  (from {name}:{line_of('# teardown network')} in reaches_out_in_teardown)",
            CAUGHT.format(phase="teardown"),
        ]
    )
    assert "Traceback" not in out
    assert "tenantfixtures/guards" not in out  # no frame of ours is the call site
    assert not (root / "data" / "organizations" / "globex").exists()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_warn_mode_warns_once_per_violation_with_one_category(mini_project, workers):
    mini_project.makepyfile(test_swallowed=SWALLOWED)
    # without pytest-rerunfailures, whose xdist workers talk to the controller over loopback TCP
    result = run_offline(mini_project, "-p", "no:rerunfailures", "--tf-guard=warn", *workers)
    # tenancy.only and the openrouter mock are checks the test asked for: they still fail
    result.assert_outcomes(failed=3, passed=4, warnings=4)
    out = result.stdout.str()
    name = "test_swallowed.py"
    for text in (
        "GuardViolationWarning: sandbox escape: the test opened the SQLite database *elsewhere.db",
        "GuardViolationWarning: sandbox escape: the test opened the SQLite database *teardown.db",
        f"GuardViolationWarning: network guard: {name}::test_network tried to reach the real"
        " network: 198.51.100.7:80.",
        f"GuardViolationWarning: network guard: {name}::test_network_in_teardown tried to reach"
        " the real network: 203.0.113.8:443.",
    ):
        result.stdout.fnmatch_lines([f"*{text}*"])
    assert out.count("GuardViolationWarning") == 4
    for test in ("test_tenant_scope", "test_only_block", "test_openrouter"):
        assert f"FAILED {name}::{test}" in out
