"""Guards on the sandbox: escapes, cross-tenant access (marker form) and query counts."""

import os

import pytest

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
            f"*SandboxEscapeError: sandbox escape: the test opened the SQLite database"
            f" {root}/elsewhere.db; its sandbox is *",
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
    warned = "SandboxEscapeWarning" in result.stdout.str()
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
    result.stdout.fnmatch_lines(["*the test connected to the database postgresql+psycopg://*"])


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
        [
            "*TenantIsolationError: cross-tenant access: tenant 'globex' was touched inside"
            " only('acme'): *"
        ]
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
