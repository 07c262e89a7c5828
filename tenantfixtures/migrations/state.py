"""What a SQLite file holds, read through PRAGMAs: the structure and rows the checks compare.

Structure is compared as SQLite reports it (not as DDL text), because a rebuilt or altered table
has different ``CREATE`` text for the same shape.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Bookkeeping tables that are not the app's data.
IGNORED_TABLES = frozenset({"alembic_version"})


@dataclass(frozen=True)
class TableShape:
    columns: tuple[tuple[str, str, bool, str | None, int], ...]  # name, type, notnull, dflt, pk
    indexes: frozenset[tuple[str, bool, tuple[str, ...]]]  # name, unique, columns
    foreign_keys: frozenset[tuple[tuple[str, ...], str, tuple[str, ...], str, str]]

    @property
    def column_names(self) -> list[str]:
        return [column[0] for column in self.columns]

    @property
    def key(self) -> list[str]:
        """Primary key columns in key order; empty for a table keyed by rowid only."""
        return [column[0] for column in sorted(self.columns, key=lambda c: c[4]) if column[4]]


@dataclass(frozen=True)
class TableData:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def canonical(self) -> list[tuple[tuple[str, Any], ...]]:
        """Rows as sorted (column, value) pairs, sorted: comparable whatever the column order."""
        return sorted(
            (tuple(sorted(zip(self.columns, row, strict=True))) for row in self.rows), key=repr
        )


@dataclass(frozen=True)
class DatabaseState:
    tables: dict[str, TableShape]
    data: dict[str, TableData]
    user_version: int


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def table_names(connection: sqlite3.Connection) -> list[str]:
    names = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%'"
        " ESCAPE '\\' ORDER BY name"
    )
    return [name for (name,) in names if name not in IGNORED_TABLES]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_shape(connection: sqlite3.Connection, table: str) -> TableShape:
    q = quote(table)
    columns = tuple(
        sorted(
            (name, str(type_).upper(), bool(notnull), default, pk)
            for _, name, type_, notnull, default, pk in connection.execute(
                f"PRAGMA table_info({q})"
            )
        )
    )
    indexes = frozenset(
        (
            # SQLite numbers its automatic indexes by position: name them by content instead.
            "" if name.startswith("sqlite_autoindex_") else name,
            bool(unique),
            tuple(str(info[2]) for info in connection.execute(f"PRAGMA index_info({quote(name)})")),
        )
        for _, name, unique, *_ in connection.execute(f"PRAGMA index_list({q})")
    )
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in connection.execute(f"PRAGMA foreign_key_list({q})"):
        grouped.setdefault(row[0], []).append(row)
    foreign_keys = frozenset(
        (
            tuple(str(part[3]) for part in parts),
            str(parts[0][2]),
            tuple(str(part[4]) for part in parts),
            str(parts[0][5]),
            str(parts[0][6]),
        )
        for parts in grouped.values()
    )
    return TableShape(columns, indexes, foreign_keys)


def read_data(connection: sqlite3.Connection, table: str) -> TableData:
    cursor = connection.execute(f"SELECT * FROM {quote(table)}")
    columns = tuple(description[0] for description in cursor.description)
    return TableData(columns, tuple(cursor.fetchall()))


def read_state(path: Path) -> DatabaseState:
    with connect(path) as connection:
        names = table_names(connection)
        return DatabaseState(
            tables={name: read_shape(connection, name) for name in names},
            data={name: read_data(connection, name) for name in names},
            user_version=connection.execute("PRAGMA user_version").fetchone()[0],
        )


def describe_column(column: tuple[str, str, bool, str | None, int]) -> str:
    _name, type_, notnull, default, pk = column
    parts = [type_ or "(no type)"]
    parts += ["PRIMARY KEY"] if pk else []
    parts += ["NOT NULL"] if notnull else []
    parts += [f"DEFAULT {default}"] if default is not None else []
    return " ".join(parts)


def compare_states(
    expected: DatabaseState, actual: DatabaseState, expected_label: str, actual_label: str
) -> list[str]:
    """Differences between two databases, one readable line each (empty when equivalent)."""
    lines: list[str] = []
    if expected.user_version != actual.user_version:
        lines.append(
            f"PRAGMA user_version: {expected.user_version} {expected_label},"
            f" {actual.user_version} {actual_label}"
        )
    lines += compare_structure(expected.tables, actual.tables, expected_label, actual_label)
    for table in sorted(set(expected.data) & set(actual.data)):
        lines += _compare_data(
            table, expected.data[table], actual.data[table], expected_label, actual_label
        )
    return lines


def compare_structure(
    expected: dict[str, TableShape],
    actual: dict[str, TableShape],
    expected_label: str,
    actual_label: str,
) -> list[str]:
    lines: list[str] = []
    for table in sorted(set(expected) | set(actual)):
        if table not in actual:
            lines.append(f"{table}: table present {expected_label}, missing {actual_label}")
        elif table not in expected:
            lines.append(f"{table}: table missing {expected_label}, present {actual_label}")
        else:
            lines += _compare_shapes(
                table, expected[table], actual[table], expected_label, actual_label
            )
    return lines


def _compare_shapes(
    table: str, expected: TableShape, actual: TableShape, expected_label: str, actual_label: str
) -> list[str]:
    lines = []
    columns_e = {column[0]: column for column in expected.columns}
    columns_a = {column[0]: column for column in actual.columns}
    for name in sorted(set(columns_e) | set(columns_a)):
        e, a = columns_e.get(name), columns_a.get(name)
        if e != a:
            shown_e = describe_column(e) if e else "missing"
            shown_a = describe_column(a) if a else "missing"
            lines.append(f"{table}.{name}: {shown_e} {expected_label}, {shown_a} {actual_label}")
    for what, e_set, a_set in (
        ("index", expected.indexes, actual.indexes),
        ("foreign key", expected.foreign_keys, actual.foreign_keys),
    ):
        for item in sorted(e_set - a_set, key=repr):
            lines.append(f"{table}: {what} {_show(item)} present {expected_label} only")
        for item in sorted(a_set - e_set, key=repr):
            lines.append(f"{table}: {what} {_show(item)} present {actual_label} only")
    return lines


def _show(item: tuple[Any, ...]) -> str:
    if isinstance(item[0], str):  # an index: name, unique, columns
        name, unique, columns = item
        return f"{name or '(automatic)'} {'UNIQUE ' if unique else ''}({', '.join(columns)})"
    columns, parent, parent_columns, on_update, on_delete = item
    return (
        f"({', '.join(columns)}) -> {parent}({', '.join(parent_columns)})"
        f" ON UPDATE {on_update} ON DELETE {on_delete}"
    )


def _compare_data(
    table: str, expected: TableData, actual: TableData, expected_label: str, actual_label: str
) -> list[str]:
    rows_e, rows_a = expected.canonical(), actual.canonical()
    if rows_e == rows_a:
        return []
    only_e = [row for row in rows_e if row not in rows_a]
    only_a = [row for row in rows_a if row not in rows_e]
    line = f"{table}: {len(rows_e)} row(s) {expected_label}, {len(rows_a)} {actual_label}"
    if only_e:
        line += f"; e.g. {dict(only_e[0])} only {expected_label}"
    if only_a:
        line += f"; e.g. {dict(only_a[0])} only {actual_label}"
    return [line]
