"""Synthetic rows for empty tables: SQLite's ``ADD COLUMN`` failures only show on tables that
hold rows, so a snapshot table without any proves nothing about the migration."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from tenantfixtures.migrations.state import quote, read_shape, table_names


def affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (datatype3.html, section 3.1)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not upper or "BLOB" in upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def sample_value(table: str, column: str, declared: str, number: int) -> Any:
    """A plausible, distinct value for row ``number`` (from 1) of a column of this type."""
    upper = declared.upper()
    if "BOOL" in upper:
        return number % 2
    if "DATE" in upper or "TIME" in upper:
        day = f"2024-01-{(number - 1) % 28 + 1:02d}"
        return day if upper == "DATE" else f"{day} 09:00:{number % 60:02d}.000000"
    kind = affinity(declared)
    if kind == "INTEGER":
        return number
    if kind in ("REAL", "NUMERIC"):
        return number + 0.5
    if kind == "BLOB" and upper:
        return f"{column}-{number}".encode()
    if "JSON" in upper:
        return "{}"
    text = f"{column} {number}"
    length = re.search(r"\((\d+)", declared)
    return text[-int(length.group(1)) :] if length else text


def seed_empty_tables(connection: sqlite3.Connection, rows: int) -> dict[str, str]:
    """Insert ``rows`` synthetic rows into every empty table, parents first so foreign keys
    point at real rows; returns the tables it could not seed, with SQLite's reason."""
    names = table_names(connection)
    shapes = {name: read_shape(connection, name) for name in names}
    skipped: dict[str, str] = {}
    for table in _parents_first(names, shapes):
        if connection.execute(f"SELECT 1 FROM {quote(table)} LIMIT 1").fetchone():
            continue
        shape = shapes[table]
        references = {
            child: (parent, parent_column)
            for children, parent, parent_columns, _, _ in shape.foreign_keys
            for child, parent_column in zip(children, parent_columns, strict=True)
        }
        keys = [c for c in shape.columns if c[4]]
        rowid_key = len(keys) == 1 and keys[0][1] == "INTEGER"  # an alias of the rowid
        columns = [c for c in shape.columns if not (rowid_key and c[4])]
        for number in range(1, rows + 1):
            values = [
                _referenced(connection, *references[name], number, table, rowid_key)
                if name in references
                else sample_value(table, name, type_, number)
                for name, type_, *_ in columns
            ]
            names_sql = ", ".join(quote(name) for name, *_ in columns)
            marks = ", ".join("?" for _ in columns)
            statement = (
                f"INSERT INTO {quote(table)} ({names_sql}) VALUES ({marks})"
                if columns
                else f"INSERT INTO {quote(table)} DEFAULT VALUES"
            )
            try:
                connection.execute(statement, values)
            except sqlite3.Error as exc:
                skipped[table] = str(exc)
                connection.execute(f"DELETE FROM {quote(table)}")
                break
    return skipped


def _referenced(
    connection: sqlite3.Connection,
    parent: str,
    parent_column: str,
    number: int,
    table: str,
    rowid_key: bool,
) -> Any:
    """The key of a parent row (cycling through them); a self-reference points at itself."""
    if parent == table and rowid_key:
        return number
    found = connection.execute(
        f"SELECT {quote(parent_column)} FROM {quote(parent)} ORDER BY rowid"
    ).fetchall()
    return found[(number - 1) % len(found)][0] if found else None


def _parents_first(names: list[str], shapes: dict[str, Any]) -> list[str]:
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered or name in path or name not in shapes:
            return
        for _, parent, *_ in sorted(shapes[name].foreign_keys):
            visit(parent, (*path, name))
        ordered.append(name)

    for name in names:
        visit(name, ())
    return ordered
