"""Snapshots become databases: SQL files, SQLite files, alembic:<revision>; and their errors."""

import sqlite3
import traceback
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from tenantfixtures.errors import TenantFixturesError
from tenantfixtures.migrations import SnapshotError, materialize, open_from_snapshot
from tenantfixtures.migrations.alembic_support import AlembicProject
from tenantfixtures.migrations.snapshots import split_sql
from tests.migrations.conftest import NOTES_V1, NOTES_V2, RELEASE_1, make_database, write_alembic


def rows(path: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_a_sql_snapshot_keeps_rows_user_version_and_trigger_bodies(tmp_path):
    snapshot = tmp_path / "old.sql"
    snapshot.write_text(
        RELEASE_1
        + "PRAGMA user_version = 7;\n"
        + "CREATE TABLE log (note INTEGER);\n"
        + "CREATE TRIGGER t AFTER INSERT ON notes BEGIN INSERT INTO log VALUES (new.id); END;\n"
    )
    materialize(snapshot, tmp_path / "db" / "tenant.db")
    target = tmp_path / "db" / "tenant.db"
    assert rows(target, "SELECT id, body FROM notes") == [
        (1, "first; with a semicolon"),
        (2, "second"),
    ]
    assert rows(target, "PRAGMA user_version") == [(7,)]
    assert rows(target, "SELECT name FROM sqlite_master WHERE type = 'trigger'") == [("t",)]


def test_a_dump_with_its_own_transaction_replays(tmp_path):
    source = make_database(tmp_path / "src.db", RELEASE_1)
    connection = sqlite3.connect(source)
    (tmp_path / "dump.sql").write_text("\n".join(connection.iterdump()))
    connection.close()
    materialize(tmp_path / "dump.sql", tmp_path / "t.db")
    assert rows(tmp_path / "t.db", "SELECT count(*) FROM notes") == [(2,)]


def test_split_sql_reports_lines_past_comments():
    text = "-- header\n\nCREATE TABLE a (x);\n/* c */ INSERT INTO a VALUES (';');\n"
    assert [line for line, _ in split_sql(text)] == [3, 4]


def test_a_parse_error_names_the_file_and_line(tmp_path):
    snapshot = tmp_path / "broken.sql"
    snapshot.write_text("CREATE TABLE a (x);\n\nINSERT INTO nowhere VALUES (1);\n")
    with pytest.raises(SnapshotError, match=r"broken\.sql:3: no such table: nowhere"):
        materialize(snapshot, tmp_path / "t.db")
    assert not (tmp_path / "t.db").exists(), "no partial database is left behind"


def test_a_snapshot_error_carries_no_frames_of_ours(tmp_path):
    """Its message names the file and line; pytest hides materialize's own frame."""
    snapshot = tmp_path / "broken.sql"
    snapshot.write_text("CREATE TABLE a (x);\nINSERT INTO nowhere VALUES (1);\n")
    with pytest.raises(SnapshotError) as raised:
        materialize(snapshot, tmp_path / "t.db")
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert frames == ["test_a_snapshot_error_carries_no_frames_of_ours", "materialize"]
    assert not raised.traceback.filter(raised)[1:], "materialize's frame is hidden"


def test_an_unterminated_statement_names_its_line(tmp_path):
    snapshot = tmp_path / "cut.sql"
    snapshot.write_text("CREATE TABLE a (x);\nINSERT INTO a VALUES (1)\n")
    with pytest.raises(SnapshotError, match=r"cut\.sql:2: statement without a closing ';'"):
        materialize(snapshot, tmp_path / "t.db")


def test_sqlite_schema_output_gets_a_hint(tmp_path):
    snapshot = tmp_path / "schema.sql"
    snapshot.write_text(
        "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT);\n"
        "CREATE TABLE sqlite_sequence(name,seq);\n"
    )
    with pytest.raises(SnapshotError, match=r"schema\.sql:2: .*reserved.*`sqlite3 DB \.schema`"):
        materialize(snapshot, tmp_path / "t.db")


def test_a_database_file_is_copied(tmp_path):
    source = make_database(tmp_path / "old.sqlite3", RELEASE_1)
    materialize(source, tmp_path / "t.db")
    assert rows(tmp_path / "t.db", "SELECT count(*) FROM notes") == [(2,)]
    assert rows(source, "SELECT count(*) FROM notes") == [(2,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"SQLite format 3\x00" + b"\x01" * 200, "is not a usable SQLite database"),
        (b"\xff\xfe\x00binary", "is neither a SQLite database nor UTF-8 SQL"),
    ],
)
def test_files_that_are_neither_sql_nor_databases(tmp_path, content, message):
    (tmp_path / "bad.db").write_bytes(content)
    with pytest.raises(SnapshotError, match=message):
        materialize(tmp_path / "bad.db", tmp_path / "t.db")


def test_missing_snapshot_and_existing_target(tmp_path):
    with pytest.raises(SnapshotError, match="does not exist"):
        materialize(tmp_path / "nope.sql", tmp_path / "t.db")
    make_database(tmp_path / "t.db", RELEASE_1)
    (tmp_path / "old.sql").write_text(RELEASE_1)
    with pytest.raises(SnapshotError, match="the file exists"):
        materialize(tmp_path / "old.sql", tmp_path / "t.db")
    assert issubclass(SnapshotError, TenantFixturesError)


def test_alembic_revision_snapshot_and_its_errors(tmp_path):
    ini = write_alembic(tmp_path, NOTES_V1, NOTES_V2)
    materialize("alembic:a1", tmp_path / "a1.db", alembic_config=ini)
    assert rows(tmp_path / "a1.db", "SELECT version_num FROM alembic_version") == [("a1",)]
    assert [r[1] for r in rows(tmp_path / "a1.db", "PRAGMA table_info(notes)")] == ["id", "body"]
    with pytest.raises(
        SnapshotError, match=r"unknown Alembic revision 'zz'.*known revisions: a1, a2"
    ):
        materialize("alembic:zz", tmp_path / "zz.db", alembic_config=ini)
    with pytest.raises(SnapshotError, match="needs an Alembic config"):
        materialize("alembic:a1", tmp_path / "x.db")
    (tmp_path / "empty.ini").write_text("[alembic]\n")
    with pytest.raises(SnapshotError, match=r"cannot load the Alembic config .*empty\.ini"):
        materialize("alembic:a1", tmp_path / "y.db", alembic_config=tmp_path / "empty.ini")
    assert not (tmp_path / "zz.db").exists()


def test_open_from_snapshot_runs_the_initializer_or_create_all(tmp_path):
    (tmp_path / "old.sql").write_text(RELEASE_1)
    metadata = MetaData()
    Table("notes", metadata, Column("id", Integer, primary_key=True), Column("body", String))
    Table("tags", metadata, Column("id", Integer, primary_key=True))
    open_from_snapshot(tmp_path / "old.sql", tmp_path / "a.db", None, metadata)
    assert rows(tmp_path / "a.db", "SELECT count(*) FROM notes") == [(2,)]
    assert rows(tmp_path / "a.db", "SELECT name FROM sqlite_master WHERE name = 'tags'")

    seen = []
    open_from_snapshot(tmp_path / "old.sql", tmp_path / "b.db", seen.append, metadata)
    assert len(seen) == 1
    assert not rows(tmp_path / "b.db", "SELECT name FROM sqlite_master WHERE name = 'tags'")


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("no section header\n", r"bad\.ini: File contains no section headers"),
        ("[alembic]\nscript_location = %(nope)s\n", r"bad\.ini: Bad value substitution"),
        ("[alembic]\n[alembic\n", r"bad\.ini: Source contains parsing errors"),
        (
            "[alembic]\nscript_location = nowhere\n",
            r"bad\.ini: Path doesn't exist: nowhere.*start it with %\(here\)s",
        ),
    ],
)
def test_an_alembic_config_that_cannot_be_loaded(tmp_path, ini, message):
    (tmp_path / "bad.ini").write_text(ini)
    with pytest.raises(SnapshotError, match=f"cannot load the Alembic config .*{message}"):
        AlembicProject.load(tmp_path / "bad.ini")


@pytest.mark.parametrize(
    ("line", "error"),
    [("def broken(:", "SyntaxError: invalid syntax"), ("import nosuchmodule", "ModuleNotFound")],
)
def test_a_revision_file_that_cannot_be_loaded_names_file_and_line(tmp_path, line, error):
    ini = write_alembic(tmp_path, NOTES_V1, NOTES_V2)
    revision = tmp_path / "migrations" / "versions" / "a2.py"
    revision.write_text(revision.read_text() + line + "\n")
    lineno = revision.read_text().count("\n")
    with pytest.raises(SnapshotError) as raised:
        AlembicProject.load(ini)
    assert str(raised.value).startswith(f"cannot load the Alembic history of {ini}: {error}")
    assert str(raised.value).endswith(f"(at {revision}:{lineno})")


def test_an_alembic_snapshot_whose_upgrade_fails_says_where(tmp_path):
    ini = write_alembic(tmp_path, NOTES_V1)
    env = tmp_path / "migrations" / "env.py"
    env.write_text(env.read_text() + "raise RuntimeError('no database for you')\n")
    lineno = env.read_text().count("\n")
    with pytest.raises(SnapshotError) as raised:
        materialize("alembic:a1", tmp_path / "a1.db", alembic_config=ini)
    assert str(raised.value) == (
        "`alembic upgrade a1` of a new database fails: RuntimeError: no database for you"
        f" (at {env}:{lineno})"
    )
    assert not (tmp_path / "a1.db").exists()
