"""A SQLite database as a replayable SQL snapshot.

Unlike ``sqlite3 .schema`` (unreplayable ``sqlite_sequence``) and ``.dump``/``iterdump``
(``PRAGMA user_version`` lost), it keeps ``user_version`` and writes rows before triggers, so
replaying it fires no trigger the original rows never fired.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import sqlalchemy

from tenantfixtures.migrations.state import quote, table_names


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def dump_sql(connection: sqlite3.Connection, title: str) -> str:
    """The schema and rows of ``connection`` as SQL, with a header saying where it came from."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"-- {title}",
        f"-- written by `tenantfixtures snapshot` on {stamp} (SQLite {sqlite3.sqlite_version},"
        f" SQLAlchemy {sqlalchemy.__version__})",
        "-- Freeze it with the release it describes; the migration checks replay it forever.",
    ]
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version:
        lines.append(f"PRAGMA user_version = {version};")
    objects = connection.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master"
        " WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
    ).fetchall()
    tables = set(table_names(connection)) | {"alembic_version"}
    for type_, name, _, sql in objects:
        if type_ == "table" and name in tables:
            lines += ["", f"{sql};"]
            cursor = connection.execute(f"SELECT * FROM {quote(name)} ORDER BY rowid")
            columns = ", ".join(quote(d[0]) for d in cursor.description)
            for row in cursor:
                values = ", ".join(sql_literal(value) for value in row)
                lines.append(f"INSERT INTO {quote(name)} ({columns}) VALUES ({values});")
    later = [sql for type_, _, _, sql in objects if type_ in ("index", "view", "trigger")]
    if later:
        lines += ["", *(f"{sql};" for sql in later)]
    return "\n".join(lines) + "\n"
