"""Each test gets its own system and tenant databases; the real data dir is never written."""

import pytest

from tests.db.conftest import snapshot

TWO_TESTS = """
import miniapp

def test_a(tenancy):
    miniapp.sign_up("acme")
    miniapp.add_note("acme", "from a")
    assert miniapp.notes("acme") == ["from a"]
    assert tenancy.tenants == ("acme",)

def test_b(tenancy):
    miniapp.sign_up("acme")
    miniapp.add_note("acme", "from b")
    assert miniapp.notes("acme") == ["from b"]
"""


@pytest.mark.parametrize(
    "args",
    [
        ("-p", "tenantfixtures", "-p", "no:randomly"),
        ("-p", "tenantfixtures", "-p", "randomly"),
        ("-p", "tenantfixtures", "-n", "2"),
        ("-p", "tenantfixtures", "-n", "2", "--dist", "loadscope"),
        ("-p", "tenantfixtures", "-n", "2", "--dist", "loadgroup"),
    ],
    ids=["serial", "random-order", "xdist", "xdist-loadscope", "xdist-loadgroup"],
)
def test_tests_do_not_share_databases(mini_project, args):
    mini_project.makepyfile(test_notes=TWO_TESTS)
    before = snapshot(mini_project.path / "data")
    result = mini_project.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    assert snapshot(mini_project.path / "data") == before


def test_collect_only_writes_nothing_to_the_real_data_dir(mini_project):
    mini_project.makepyfile(test_notes=TWO_TESTS)
    before = snapshot(mini_project.path / "data")
    result = mini_project.runpytest_subprocess("-p", "tenantfixtures", "--collect-only")
    assert result.ret == 0
    assert snapshot(mini_project.path / "data") == before


def test_ini_configuration_alone_is_enough(pytester):
    """The simple case: no conftest fixture, the ini names metadata and data dir."""
    from tests.db.conftest import MINI_APP

    pytester.makepyfile(miniapp=MINI_APP)
    pytester.makeini(
        """
        [pytest]
        pythonpath = .
        tenantfixtures_system_metadata = miniapp:SystemBase.metadata
        tenantfixtures_tenant_metadata = miniapp:TenantBase.metadata
        tenantfixtures_data_dir = data
        tenantfixtures_engine_caches = miniapp:_tenant_engines
        """
    )
    (pytester.path / "data").mkdir()
    pytester.makepyfile(test_notes=TWO_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert snapshot(pytester.path / "data") == {}


def test_databases_are_gone_after_the_test(mini_project, isolation):
    mini_project.makepyfile(
        test_paths="""
        import miniapp
        seen = []

        def test_create(tenancy):
            miniapp.sign_up("acme")
            seen.append(tenancy.tenant_path("acme"))
            assert seen[0].exists()

        def test_after(tenancy):
            assert not seen[0].exists()
            assert tenancy.tenants == ()
        """
    )
    result = mini_project.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", isolation
    )
    result.assert_outcomes(passed=2)


def test_engines_created_during_the_test_and_raw_sqlite3_are_redirected(mini_project):
    mini_project.makepyfile(
        test_raw="""
        import sqlite3
        from sqlalchemy import create_engine, text

        def test_raw(tenancy):
            engine = create_engine("sqlite:///data/system.db")
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO orgs (id) VALUES ('raw')"))
            engine.dispose()
            conn = sqlite3.connect("data/system.db")
            assert conn.execute("SELECT id FROM orgs").fetchall() == [("raw",)]
            conn.close()
            uri = sqlite3.connect("file:data/system.db?mode=ro", uri=True)
            assert uri.execute("SELECT count(*) FROM orgs").fetchone() == (1,)
            uri.close()
            assert tenancy.touched.system >= 3
        """
    )
    before = snapshot(mini_project.path / "data")
    result = mini_project.runpytest_subprocess("-p", "tenantfixtures")
    result.assert_outcomes(passed=1)
    assert snapshot(mini_project.path / "data") == before


def test_without_import_time_protection_tests_are_still_isolated(mini_project):
    """Loaded only by its entry point, with the topology in a fixture: the app's import-time
    engine opened the real system.db before any rule was known (documented), yet its pooled
    connection is closed when the first test adopts the topology, so tests never share it."""
    mini_project.makepyfile(test_notes=TWO_TESTS)
    result = mini_project.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert (mini_project.path / "data" / "system.db").exists()
