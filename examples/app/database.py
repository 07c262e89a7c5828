"""Databases, the way many real apps set them up (and the way tests find hard to isolate).

- ``DATA_DIR`` is computed at import time, relative to the current directory;
- the system engine is created at import time (and ``models`` creates its tables on import);
- tenant engines are cached in a module-level dict, keyed by organisation id;
- a tenant database is created lazily with ``create_all`` plus a hand-written migration that
  ``ALTER TABLE``s databases created by older releases.
"""

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

DATA_DIR = Path(os.environ.get("COUNCIL_DATA_DIR", "data"))
DATA_DIR.mkdir(exist_ok=True)

system_engine = create_engine(f"sqlite:///{DATA_DIR}/system.db")
SystemSessionLocal = sessionmaker(bind=system_engine)


class SystemBase(DeclarativeBase):
    """Organisations and users: shared by every tenant."""


class TenantBase(DeclarativeBase):
    """Conversations, messages and votes: one database per organisation."""


@event.listens_for(Engine, "connect")
def _enable_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Columns added after the first release; old tenant databases lack them.
TENANT_MIGRATIONS = [
    ("messages", "tokens", "ALTER TABLE messages ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0"),
    ("messages", "model", "ALTER TABLE messages ADD COLUMN model VARCHAR(120)"),
    (
        "conversations",
        "archived",
        "ALTER TABLE conversations ADD COLUMN archived BOOLEAN NOT NULL DEFAULT 0",
    ),
]

_tenant_engines: dict[str, Engine] = {}


def migrate_tenant_db(engine: Engine) -> list[str]:
    """Bring an existing tenant database up to date; returns the columns it added."""
    added = []
    with engine.begin() as connection:
        for table, column, ddl in TENANT_MIGRATIONS:
            columns = {row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({table})")}
            if column not in columns:
                connection.exec_driver_sql(ddl)
                added.append(f"{table}.{column}")
        # create_all skips the indexes of a table that exists, e.g. one a crashed run created.
        existing = set(inspect(connection).get_table_names())
        for tenant_table in TenantBase.metadata.sorted_tables:
            if tenant_table.name in existing:
                for index in tenant_table.indexes:
                    index.create(connection, checkfirst=True)
    return added


def init_tenant_schema(engine: Engine) -> None:
    """What the app does to a brand-new (or old) tenant database."""
    TenantBase.metadata.create_all(engine)
    migrate_tenant_db(engine)


def get_tenant_engine(org_id: str) -> Engine:
    engine = _tenant_engines.get(org_id)
    if engine is None:
        os.makedirs(f"data/organizations/{org_id}", exist_ok=True)
        engine = create_engine(f"sqlite:///data/organizations/{org_id}/tenant.db")
        init_tenant_schema(engine)
        _tenant_engines[org_id] = engine
    return engine


def tenant_session(org_id: str) -> Session:
    return Session(get_tenant_engine(org_id))


def load_defaults() -> dict[str, Any]:
    """Shipped, read-only configuration that lives under the data dir."""
    defaults: dict[str, Any] = json.loads((DATA_DIR / "defaults" / "council.json").read_text())
    return defaults
