"""The check functions called directly: Alembic history checks, data checks, seeding."""

import sqlite3

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from tenantfixtures.migrations.alembic_support import AlembicProject
from tenantfixtures.migrations.checks import (
    CheckFailed,
    SnapshotWithoutRowsWarning,
    Subject,
    downgrade_upgrade_roundtrip,
    initializer_migration,
    keeps_rows,
    single_head,
    upgrade_from_base,
)
from tenantfixtures.migrations.seed import seed_empty_tables
from tests.migrations.conftest import NOTES_V1, NOTES_V2, make_database, write_alembic

NOTES = MetaData()
Table(
    "notes",
    NOTES,
    Column("id", Integer, primary_key=True),
    Column("body", String, nullable=False),
    Column("stars", Integer, nullable=False, server_default="0"),
)

# With a Python-side default, which keeps_rows holds the new column's values to.
NOTES_DEFAULTS = MetaData()
Table(
    "notes",
    NOTES_DEFAULTS,
    Column("id", Integer, primary_key=True),
    Column("body", String),
    Column("stars", Integer, nullable=False, default=0),
)


def test_single_head_names_both_heads(tmp_path):
    other = ("b2", "a1", "a parallel branch", "pass", "pass")
    project = AlembicProject.load(write_alembic(tmp_path, NOTES_V1, NOTES_V2, other))
    with pytest.raises(CheckFailed, match=r"expected one head, found 2: .*a2 \(add stars\).*merge"):
        single_head(project)


def test_upgrade_from_base_compares_with_the_models(tmp_path):
    project = AlembicProject.load(write_alembic(tmp_path, NOTES_V1))
    with pytest.raises(CheckFailed, match=r"(?s)from an empty database.*column stars: missing"):
        upgrade_from_base(project, NOTES, tmp_path)


def test_a_downgrade_that_leaves_a_trace_is_named(tmp_path):
    lazy = ("a2", "a1", "add stars", NOTES_V2[3], "pass")
    project = AlembicProject.load(write_alembic(tmp_path, NOTES_V1, lazy))
    with pytest.raises(
        CheckFailed, match=r"(?s)downgrading a2 \(add stars\) does not restore a1.*notes\.stars"
    ):
        downgrade_upgrade_roundtrip(project, tmp_path)


def test_an_irreversible_downgrade_ends_the_walk(tmp_path):
    irreversible = ("a2", "a1", "add stars", NOTES_V2[3], "raise NotImplementedError")
    project = AlembicProject.load(write_alembic(tmp_path, NOTES_V1, irreversible))
    downgrade_upgrade_roundtrip(project, tmp_path)


def test_keeps_rows_names_lost_and_changed_rows(tmp_path):
    prepared = make_database(
        tmp_path / "old.db",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
        "INSERT INTO notes VALUES (1, 'a'), (2, 'b'), (3, 'c');",
    )

    def lossy(engine):
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM notes WHERE id = 3")
            connection.exec_driver_sql("UPDATE notes SET body = 'x' WHERE id = 1")
            connection.exec_driver_sql("ALTER TABLE notes ADD COLUMN stars INTEGER DEFAULT 0")

    subject = Subject("snapshot old.db", prepared, initializer_migration(lossy, NOTES), NOTES)
    with pytest.raises(CheckFailed) as failed:
        keeps_rows(subject, tmp_path)
    assert str(failed.value).splitlines() == [
        "snapshot old.db: the migration does not keep the data:",
        "  - notes: 1 of 3 row(s) lost (e.g. id=3)",
        "  - notes: 1 value(s) changed (e.g. id=1: body 'a' -> 'x')",
    ]


def migration_of(*statements):
    def migrate(engine):
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)

    return initializer_migration(migrate, NOTES)


@pytest.mark.parametrize(
    ("old", "statements", "report"),
    [
        pytest.param(
            "CREATE TABLE tags (name TEXT); INSERT INTO tags VALUES ('a'), ('a'), ('b');",
            ["DELETE FROM tags WHERE rowid = 2"],
            "tags: 1 of 3 row(s) lost (e.g. name='a')",
            id="one-of-two-equal-rows-without-a-key",
        ),
        pytest.param(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
            "INSERT INTO notes VALUES (1, 'a'), (2, 'b');",
            [
                "CREATE TABLE folders (id INTEGER PRIMARY KEY)",
                "ALTER TABLE notes ADD COLUMN stars INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE notes ADD COLUMN folder_id INTEGER REFERENCES folders(id) DEFAULT 1",
            ],
            "PRAGMA foreign_key_check: 2 notes row(s) point at missing folders rows (e.g. rowid 1)",
            id="foreign-key-check",
        ),
        pytest.param(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
            "INSERT INTO notes VALUES (1, 'a'), (2, NULL);",
            [
                "ALTER TABLE notes ADD COLUMN stars INTEGER NOT NULL DEFAULT 0",
                "PRAGMA writable_schema = ON",
                "UPDATE sqlite_master SET sql = replace(sql, 'body TEXT', 'body TEXT NOT NULL')"
                " WHERE name = 'notes'",
                "PRAGMA writable_schema = OFF",
            ],
            "PRAGMA integrity_check: NULL value in notes.body",
            id="integrity-check",
        ),
        pytest.param(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
            "INSERT INTO notes VALUES (1, 'a');",
            ["ALTER TABLE notes ADD COLUMN stars INTEGER NOT NULL DEFAULT 5"],
            "notes.stars: old rows hold 5 (1 of 1), the model's default is 0",
            id="new-column-default",
        ),
    ],
)
def test_keeps_rows_reports(tmp_path, old, statements, report):
    """Run with SQLite's default of foreign keys off, so an FK column's default slips in."""
    prepared = make_database(tmp_path / "old.db", old)
    subject = Subject("snapshot old.db", prepared, migration_of(*statements), NOTES_DEFAULTS)
    with pytest.raises(CheckFailed) as failed:
        keeps_rows(subject, tmp_path)
    assert str(failed.value).splitlines()[1:] == [f"  - {report}"]


def test_keeps_rows_warns_about_tables_without_rows(tmp_path):
    prepared = make_database(
        tmp_path / "old.db",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )
    subject = Subject("snapshot old.db", prepared, migration_of(), NOTES)
    with pytest.warns(SnapshotWithoutRowsWarning, match="tables notes hold no rows"):
        keeps_rows(subject, tmp_path)


def test_seeding_fills_empty_tables_parents_first(tmp_path):
    path = make_database(
        tmp_path / "db.sqlite3",
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL"
        " REFERENCES parent(key), at DATETIME NOT NULL, flag BOOLEAN);"
        "CREATE TABLE parent (key VARCHAR(3) PRIMARY KEY, n INTEGER);"
        "CREATE TABLE odd (n INTEGER CHECK (n < 0));"
        "CREATE TABLE kept (x TEXT); INSERT INTO kept VALUES ('mine');",
    )
    connection = sqlite3.connect(path)
    skipped = seed_empty_tables(connection, 2)
    assert skipped == {"odd": "CHECK constraint failed: n < 0"}
    assert connection.execute("SELECT count(*) FROM kept").fetchone() == (1,)
    assert connection.execute("SELECT count(*) FROM odd").fetchone() == (0,)
    assert connection.execute("SELECT key FROM parent").fetchall() == [("y 1",), ("y 2",)]
    assert connection.execute("SELECT count(*) FROM child").fetchone() == (2,)
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    connection.close()
