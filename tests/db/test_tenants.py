"""Tenant databases: created on first touch, from the template, migrated like the app does."""

import sqlite3

from tests.db.conftest import snapshot


def test_lazy_migration_runs_on_an_old_schema_database(mini_project):
    mini_project.makepyfile(
        test_migration="""
        import sqlite3
        import miniapp

        def test_old_tenant_database_is_migrated(tenancy):
            path = tenancy.tenant_path("legacy")
            path.parent.mkdir(parents=True)
            old = sqlite3.connect(path)
            old.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR)")
            old.execute("INSERT INTO notes (body) VALUES ('written by release 1')")
            old.commit()
            old.close()

            miniapp.add_note("legacy", "written now")

            assert miniapp.notes("legacy") == ["written by release 1", "written now"]
            check = sqlite3.connect(path)
            columns = [row[1] for row in check.execute("PRAGMA table_info(notes)")]
            check.close()
            assert columns == ["id", "body", "stars"]
        """
    )
    mini_project.runpytest_subprocess("-p", "tenantfixtures").assert_outcomes(passed=1)


def test_marker_fixtures_and_default_tenant(mini_project):
    mini_project.makepyfile(
        test_marker="""
        import pytest
        import miniapp
        from sqlalchemy import text

        @pytest.mark.tenants("globex", "initech")
        def test_marked(tenancy, tenant_db, system_db):
            assert tenancy.tenants == ("globex", "initech")
            assert tenancy.default_tenant == "globex"
            tenant_db.execute(text("INSERT INTO notes (body) VALUES ('hi')"))
            tenant_db.commit()
            assert miniapp.notes("globex") == ["hi"]
            assert miniapp.notes("initech") == []
            assert system_db.execute(text("SELECT count(*) FROM orgs")).scalar() == 0

        def test_unmarked_default(tenancy, tenant_db):
            tenant_db.execute(text("SELECT 1"))
            assert tenancy.tenants == ("default",)

        def test_using_switches_the_default(tenancy):
            with tenancy.using("acme"):
                assert tenancy.default_tenant == "acme"
                tenancy.tenant().execute(text("SELECT 1"))
            assert tenancy.default_tenant == "default"
            assert tenancy.tenants == ("acme",)
        """
    )
    mini_project.runpytest_subprocess("-p", "tenantfixtures").assert_outcomes(passed=3)


def test_unsafe_tenant_ids_are_refused_before_any_file_is_touched(mini_project):
    mini_project.makepyfile(
        test_unsafe="""
        import os
        import pytest
        import miniapp
        import tenantfixtures

        BAD = ["../x", "a/b", "", "/etc", "nul\\x00byte", "..", "a\\\\b"]

        @pytest.mark.parametrize("bad", BAD)
        def test_fixture_api_refuses(tenancy, bad):
            with pytest.raises(tenantfixtures.UnsafeTenantIdError, match="unsafe tenant id"):
                tenancy.tenant(bad)

        def test_app_path_traversal_is_refused(tenancy):
            with pytest.raises(tenantfixtures.UnsafeDatabasePathError, match="uses '..'"):
                miniapp.get_tenant_engine("../../escape")
            assert list(tenancy.data_dir.rglob("*tenant.db")) == []

        @pytest.mark.tenants("../x")
        def test_marker_refuses(tenancy):
            pass
        """
    )
    before = snapshot(mini_project.path / "data")
    result = mini_project.runpytest_subprocess("-p", "tenantfixtures", "-p", "no:randomly")
    result.assert_outcomes(passed=8, errors=1)
    result.stdout.fnmatch_lines(["*UnsafeTenantIdError: unsafe tenant id '../x'*"])
    assert snapshot(mini_project.path / "data") == before
    # The app's own os.makedirs ran before it built the URL (outside the data dir, nothing
    # serves it); no database was created there.
    assert not (mini_project.path / "escape" / "tenant.db").exists()


def test_copy_on_write_keeps_committed_rows_from_the_wal(mini_project):
    """A shipped database in WAL mode: rows still in its -wal file must reach the sandbox copy."""
    import sqlite3

    shipped = mini_project.path / "data" / "defaults" / "catalog.db"
    writer = sqlite3.connect(shipped)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE items (name TEXT)")
    writer.execute("INSERT INTO items VALUES ('from the wal')")
    writer.commit()
    assert (mini_project.path / "data" / "defaults" / "catalog.db-wal").stat().st_size > 0
    wal = shipped.with_name("catalog.db-wal")
    before = shipped.read_bytes() + wal.read_bytes()
    mini_project.makepyfile(
        test_catalog="""
        import sqlite3

        def test_reads_and_writes_the_copy(tenancy):
            conn = sqlite3.connect("data/defaults/catalog.db")
            assert conn.execute("SELECT name FROM items").fetchall() == [("from the wal",)]
            conn.execute("INSERT INTO items VALUES ('test write')")
            conn.commit()
            conn.close()
            assert (tenancy.data_dir / "defaults" / "catalog.db").exists()
        """
    )
    mini_project.runpytest_subprocess("-p", "tenantfixtures").assert_outcomes(passed=1)
    assert shipped.read_bytes() + wal.read_bytes() == before, "the real files were not written"
    writer.close()
    reader = sqlite3.connect(shipped)
    assert reader.execute("SELECT name FROM items").fetchall() == [("from the wal",)]
    reader.close()


HOSTILE_IDS = """
import os
import sqlite3

import pytest
from sqlalchemy import create_engine, text

import miniapp
import tenantfixtures

ENCODED = ["x%2f..%2facme", "a?mode=ro", "a#b", "é" * 128, "tab\\tid", "del\\x7f"]


@pytest.mark.parametrize("bad", ENCODED)
def test_the_fixture_api_refuses_ids_that_change_a_url(tenancy, bad):
    with pytest.raises(tenantfixtures.UnsafeTenantIdError, match="unsafe tenant id"):
        tenancy.tenant(bad)


@pytest.mark.parametrize("bad", ["", "."])
def test_the_app_path_refuses_empty_and_dot_ids(tenancy, bad):
    with pytest.raises(tenantfixtures.UnsafeTenantIdError, match="unsafe tenant id"):
        create_engine(f"sqlite:///data/organizations/{bad}/tenant.db").connect()


def test_an_app_path_with_dot_dot_through_sqlalchemy(tenancy):
    tenancy.tenant("acme")
    with pytest.raises(tenantfixtures.UnsafeDatabasePathError, match="uses '..'"):
        create_engine("sqlite:///data/organizations/x/../acme/tenant.db")


def test_a_symlink_planted_in_the_data_dir_is_followed_to_the_test_copy(tenancy):
    miniapp.sign_up("acme")
    link = tenancy.data_dir / "organizations" / "link.db"
    link.symlink_to(os.path.abspath("data/system.db"))
    connection = sqlite3.connect(link)
    connection.execute("DELETE FROM orgs")
    connection.commit()
    connection.close()
    with miniapp.SystemSessionLocal() as session:
        assert session.execute(text("SELECT count(*) FROM orgs")).scalar() == 0
"""


def test_hostile_ids_never_reach_another_tenant_or_the_real_files(mini_project, isolation):
    real = mini_project.path / "data" / "system.db"
    connection = sqlite3.connect(real)
    connection.execute("CREATE TABLE orgs (id VARCHAR PRIMARY KEY)")
    connection.execute("INSERT INTO orgs VALUES ('real')")
    connection.commit()
    connection.close()
    mini_project.makepyfile(test_hostile=HOSTILE_IDS)
    before = snapshot(mini_project.path / "data")
    result = mini_project.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", isolation
    )
    result.assert_outcomes(passed=10)
    assert snapshot(mini_project.path / "data") == before
