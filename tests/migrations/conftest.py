"""A tiny tenant app with a lazy migration, old-schema snapshots and an Alembic history, laid
out in pytester projects (or in tmp_path for direct calls)."""

import sqlite3
import textwrap
from pathlib import Path

import pytest

# Load the migration checks even before the main plugin lists them.
PLUGIN_ARGS = (
    "-p",
    "tenantfixtures.migrations.plugin",
    "-p",
    "no:randomly",
    "-p",
    "no:cacheprovider",
)

MINI_APP = '''
"""Notes per tenant; the lazy migration adds what later releases added to old databases."""
from pathlib import Path

from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import DeclarativeBase

DATA_DIR = Path("data")


class SystemBase(DeclarativeBase):
    pass


class TenantBase(DeclarativeBase):
    pass


class Org(SystemBase):
    __tablename__ = "orgs"
    id = Column(String, primary_key=True)


class Note(TenantBase):
    __tablename__ = "notes"
    id = Column(Integer, primary_key=True)
    body = Column(String, nullable=False)
    stars = Column(Integer, nullable=False, default=0)
{columns}

# Per column the old databases lack: the statements that add it.
MIGRATIONS = [
    ("stars", ["ALTER TABLE notes ADD COLUMN stars INTEGER NOT NULL DEFAULT 0"]),
{migrations}
]


def init_tenant(engine):
    TenantBase.metadata.create_all(engine)
    with engine.begin() as conn:
        present = {{row[1] for row in conn.exec_driver_sql("PRAGMA table_info(notes)")}}
        for column, statements in MIGRATIONS:
            if column not in present:
                for statement in statements:
                    conn.exec_driver_sql(statement)
'''

CONFTEST = """
import pytest
import tenantfixtures
import miniapp


@pytest.fixture(scope="session")
def tenant_topology():
    return tenantfixtures.Topology(
        system=miniapp.SystemBase.metadata,
        tenant=miniapp.TenantBase.metadata,
        data_dir=miniapp.DATA_DIR,
        tenant_initializer=miniapp.init_tenant,
    )
"""

RELEASE_1 = """-- release 1: notes had a body only
CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR NOT NULL);
INSERT INTO notes (id, body) VALUES (1, 'first; with a semicolon'), (2, 'second');
"""

ENV_PY = """
from alembic import context
from sqlalchemy import create_engine, event
from sqlalchemy.pool import NullPool

engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
if {transactional}:  # pysqlite's documented fix: real transactions around DDL
    event.listen(engine, "connect", lambda dbapi, _: setattr(dbapi, "isolation_level", None))
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
with engine.connect() as connection:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""

REVISION = '''"""{doc}"""
import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''

NOTES_V1 = (
    "a1",
    None,
    "create notes",
    'op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True),'
    ' sa.Column("body", sa.String, nullable=False))',
    'op.drop_table("notes")',
)
NOTES_V2 = (
    "a2",
    "a1",
    "add stars",
    'op.add_column("notes", sa.Column("stars", sa.Integer, nullable=False, server_default="0"))',
    'op.drop_column("notes", "stars")',
)


def write_app(directory: Path, columns: str = "", migrations: str = "") -> None:
    (directory / "miniapp.py").write_text(MINI_APP.format(columns=columns, migrations=migrations))


def write_alembic(
    directory: Path, *revisions: tuple[str, str | None, str, str, str], transactional: bool = True
) -> Path:
    """An alembic.ini whose history holds ``revisions`` (id, down, doc, upgrade, downgrade)."""
    versions = directory / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (directory / "migrations" / "env.py").write_text(ENV_PY.format(transactional=transactional))
    for revision, down, doc, upgrade, downgrade in revisions:
        (versions / f"{revision}.py").write_text(
            REVISION.format(
                doc=doc,
                revision=revision,
                down=down,
                upgrade=textwrap.indent(upgrade, "    "),
                downgrade=textwrap.indent(downgrade, "    "),
            )
        )
    ini = directory / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    return ini


def make_database(path: Path, script: str) -> Path:
    connection = sqlite3.connect(path)
    connection.executescript(script)
    connection.close()
    return path


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """The mini app, its topology in tests/conftest.py (not the rootdir), a test using the fresh
    template, the release-1 snapshot, and the checks switched on for it."""
    write_app(pytester.path)
    tests = pytester.mkdir("tests")
    (tests / "conftest.py").write_text(CONFTEST)
    (tests / "test_app.py").write_text(
        "def test_fresh_tenant(tenancy):\n    assert tenancy.tenant_engine('acme')\n"
    )
    snapshots = pytester.mkdir("snapshots")
    (snapshots / "release-1.sql").write_text(RELEASE_1)
    pytester.makeini(
        "[pytest]\npythonpath = .\ntestpaths = tests\n"
        "tenantfixtures_tenant_snapshots = snapshots/*.sql\n"
    )
    return pytester
