"""schema_diff / assert_schema_matches: real drift reported, SQLite's false alarms not."""

import sys

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
)

from tenantfixtures.migrations import (
    MigrationsUnavailableError,
    SchemaMismatchError,
    assert_schema_matches,
    schema_diff,
)
from tests.migrations.conftest import make_database


def models(*, unique_name=False, ondelete=None, extra=()):
    metadata = MetaData()
    Table(
        "parents",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False, unique=unique_name),
    )
    Table(
        "children",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", ForeignKey("parents.id", ondelete=ondelete), nullable=True),
        Column("body", Text, nullable=False),
        Column("done", Boolean, nullable=False, default=False),
        Column("at", DateTime),
        *extra,
    )
    return metadata


def engine_on(tmp_path, ddl):
    return create_engine(f"sqlite:///{make_database(tmp_path / 'db.sqlite3', ddl)}")


def test_a_create_all_database_matches(tmp_path):
    metadata = models()
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    metadata.create_all(engine)
    assert schema_diff(engine, metadata) == []
    assert_schema_matches(engine, metadata)


def test_hand_written_sqlite_ddl_is_normalised(tmp_path):
    """integer-primary-key, type-affinity, unique-index, foreign-key-options,
    database-only-default: none of these is a difference."""
    engine = engine_on(
        tmp_path,
        """
        CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE UNIQUE INDEX ux_parents_name ON parents (name);
        CREATE TABLE children (id INTEGER PRIMARY KEY, body CLOB NOT NULL,
                               done INTEGER NOT NULL DEFAULT 0, at TIMESTAMP);
        ALTER TABLE children ADD COLUMN parent_id INTEGER REFERENCES parents(id) ON DELETE CASCADE;
        """,
    )
    metadata = models(unique_name=True, ondelete="CASCADE")
    assert schema_diff(engine, metadata) == [
        "warning: children: column done: declared INTEGER (affinity INTEGER) in the database,"
        " BOOLEAN (affinity NUMERIC) in the model"
    ]


def test_real_drift_is_ranked_errors_first(tmp_path):
    engine = engine_on(
        tmp_path,
        """
        CREATE TABLE parents (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL,
                              legacy TEXT NOT NULL);
        CREATE TABLE children (id INTEGER PRIMARY KEY, body TEXT, done BOOLEAN NOT NULL,
                               at DATETIME, parent_id INTEGER REFERENCES parents(id));
        CREATE INDEX ix_old ON children (at);
        CREATE TABLE audit (id INTEGER PRIMARY KEY);
        """,
    )
    metadata = models(
        ondelete="CASCADE", extra=[Column("rank", Integer, nullable=False, index=True)]
    )
    assert schema_diff(engine, metadata) == [
        "error: children: column body: the database allows NULL, the model says NOT NULL"
        " (making it NOT NULL needs a table rebuild on SQLite)",
        "error: children: column rank: missing from the database (model: INTEGER NOT NULL);"
        " SQLite refuses ADD COLUMN ... NOT NULL without a DEFAULT on a table with rows",
        "error: children: foreign key (parent_id) -> parents(id): ON UPDATE NO ACTION ON DELETE"
        " NO ACTION in the database, ON UPDATE NO ACTION ON DELETE CASCADE in the model",
        "error: parents: column legacy: in the database only (TEXT NOT NULL); inserts through"
        " the models will fail: it is NOT NULL without a DEFAULT",
        "warning: audit: table: in the database, not in the models",
        "warning: children: index ix_children_rank: missing (model: on rank)",
        "warning: children: index ix_old: in the database only (on at)",
    ]


def test_primary_keys_are_compared(tmp_path):
    engine = engine_on(tmp_path, "CREATE TABLE t (a INTEGER, b INTEGER, PRIMARY KEY (a, b));")
    metadata = MetaData()
    Table("t", metadata, Column("a", Integer, primary_key=True), Column("b", Integer))
    assert "error: t: primary key: (a, b) in the database, (a) in the model" in schema_diff(
        engine, metadata
    )


def test_assert_schema_matches_renders_a_block_per_table(tmp_path):
    engine = engine_on(tmp_path, "CREATE TABLE parents (id INTEGER PRIMARY KEY);")
    with pytest.raises(SchemaMismatchError) as raised:
        assert_schema_matches(engine, models())
    message = str(raised.value)
    assert message.startswith("the database schema does not match the models (2 errors):\n")
    assert "  children\n    error   table: missing from the database\n" in message
    assert "  parents\n    error   column name: missing from the database" in message
    assert "versions: SQLite " in message
    assert isinstance(raised.value, AssertionError)
    assert raised.value.differences[0] == "error: children: table: missing from the database"


def test_without_alembic_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "alembic", None)
    engine = engine_on(tmp_path, "CREATE TABLE parents (id INTEGER PRIMARY KEY);")
    with pytest.raises(
        MigrationsUnavailableError, match=r"pip install tenantfixtures\[migrations\]"
    ):
        schema_diff(engine, models())


def test_defaults_unique_constraints_and_foreign_keys_are_compared(tmp_path):
    engine = engine_on(
        tmp_path,
        """
        CREATE TABLE owners (id INTEGER PRIMARY KEY);
        CREATE TABLE plans (id INTEGER PRIMARY KEY, tier TEXT NOT NULL DEFAULT 'free',
                            owner_id INTEGER, code TEXT);
        """,
    )
    metadata = MetaData()
    Table("owners", metadata, Column("id", Integer, primary_key=True))
    Table(
        "plans",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("tier", Text, nullable=False, server_default="pro"),
        Column("owner_id", ForeignKey("owners.id")),
        Column("code", Text, unique=True),
    )
    assert schema_diff(engine, metadata) == [
        "error: plans: foreign key (owner_id) -> owners(id): missing from the database",
        "error: plans: unique (code): missing from the database",
        "warning: plans: column tier: server default 'free' in the database, 'pro' in the model",
    ]
