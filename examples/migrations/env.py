"""Alembic environment for one tenant database at a time.

The database is, in order: ``config.attributes["connection"]`` (a connection handed over by a
caller, as pytest-alembic does), ``-x url=...``, ``-x tenant=<id>`` (the app's own layout under
its data dir), else ``sqlalchemy.url`` from the config (what tenantfixtures' checks set).
"""

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.pool import NullPool

from app import database, models  # noqa: F401  (registers the tenant tables)

config = context.config


def tenant_url() -> str:
    options = context.get_x_argument(as_dictionary=True)
    if "url" in options:
        return options["url"]
    if "tenant" in options:
        return f"sqlite:///{database.DATA_DIR}/organizations/{options['tenant']}/tenant.db"
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("name the tenant database: alembic -x tenant=<id> (or -x url=...)")
    return url


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=database.TenantBase.metadata,
        render_as_batch=True,  # SQLite rebuilds tables for what ALTER TABLE cannot do
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    handed_over = config.attributes.get("connection")
    if handed_over is not None:
        run(handed_over)
        return
    engine = create_engine(tenant_url(), poolclass=NullPool)

    # pysqlite does not put DDL in a transaction: without these two listeners a migration
    # killed half-way leaves its ALTERs behind and its version row unwritten, and the rerun
    # fails on "duplicate column name" (see the idempotent check).
    @event.listens_for(engine, "connect")
    def _no_pysqlite_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    try:
        with engine.connect() as connection:
            run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported for SQLite tenant databases")
run_online()
