"""``tenancy.tenant(id, snapshot=...)``: an old database on demand, migrated by the app's own
initializer as in production, in each of the three snapshot forms."""

import pytest

from tests.migrations.conftest import NOTES_V1, RELEASE_1, make_database, write_alembic

TESTS = """
import pytest
from sqlalchemy import text

import tenantfixtures


def _notes(session):
    return session.execute(text("SELECT id, body, stars FROM notes ORDER BY id")).all()


def test_from_a_sql_file(tenancy):
    session = tenancy.tenant("acme", snapshot="snapshots/release-1.sql")
    assert _notes(session) == [(1, "first; with a semicolon", 0), (2, "second", 0)]
    assert _notes(tenancy.tenant("globex")) == []  # other tenants come from the template


def test_from_a_sqlite_file(tenancy):
    session = tenancy.tenant("acme", snapshot="snapshots/release-1.db")
    assert [row.body for row in _notes(session)] == ["first; with a semicolon", "second"]


def test_from_an_alembic_revision(tenancy):
    session = tenancy.tenant("acme", snapshot="alembic:a1")
    session.execute(text("INSERT INTO notes (body) VALUES ('new')"))
    assert _notes(session) == [(1, "new", 0)]


def test_the_system_database_too(tenancy):
    session = tenancy.system(snapshot="snapshots/system-1.sql")
    assert session.execute(text("SELECT id FROM orgs")).scalars().all() == ["old-org"]


def test_after_the_database_was_opened_is_an_error(tenancy):
    tenancy.tenant("acme")
    with pytest.raises(tenantfixtures.SnapshotError, match="acme"):
        tenancy.tenant("acme", snapshot="snapshots/release-1.sql")


def test_a_missing_snapshot_names_the_file(tenancy):
    with pytest.raises(tenantfixtures.SnapshotError, match="nope.sql"):
        tenancy.tenant("acme", snapshot="snapshots/nope.sql")


def test_broken_snapshot(tenancy):
    tenancy.tenant("acme", snapshot="snapshots/broken.sql")
"""


def test_tenancy_opens_old_databases_from_snapshots(project: pytest.Pytester) -> None:
    snapshots = project.path / "snapshots"
    make_database(snapshots / "release-1.db", RELEASE_1)
    (snapshots / "broken.sql").write_text("CREATE TABLE a (x);\nINSERT INTO nowhere VALUES (1);\n")
    (snapshots / "system-1.sql").write_text(
        "CREATE TABLE orgs (id VARCHAR PRIMARY KEY);\nINSERT INTO orgs VALUES ('old-org');\n"
    )
    write_alembic(project.path, NOTES_V1)
    project.makeini(
        "[pytest]\npythonpath = .\ntestpaths = tests\ntenantfixtures_alembic = alembic.ini\n"
    )
    (project.path / "tests" / "test_snapshots.py").write_text(TESTS)
    result = project.runpytest_subprocess(
        "-p", "no:randomly", "--tf-no-migration-checks", "tests/test_snapshots.py"
    )
    result.assert_outcomes(passed=6, failed=1)
    # The failure is the snapshot's file and line; no frame of tenantfixtures in between.
    result.stdout.fnmatch_lines(["*SnapshotError: *broken.sql:2: *nowhere*"])
    failure = result.stdout.str().split("test_broken_snapshot", 1)[1]
    assert "tenantfixtures/" not in failure.split("short test summary")[0]
