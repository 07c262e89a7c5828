"""Does a database's schema match the models? Alembic's ``compare_metadata``, made fit for
SQLite files that hand-written DDL and lazy migrations built.

On such files ``compare_metadata`` reports differences SQLite cannot have or does not care
about. These normalisation rules drop them (each is named in the code next to its test):

- ``integer-primary-key``: an ``INTEGER PRIMARY KEY`` column is never NULL, declared or not;
- ``type-affinity``: declared types are compared by SQLite affinity (TEXT = VARCHAR(50) = String);
- ``unique-index``: a unique index and a unique constraint on the same columns are one thing
  (``ALTER TABLE`` cannot add a UNIQUE column, so a lazy migration must use an index);
- ``foreign-key-options``: an FK added by ``ADD COLUMN ... REFERENCES`` reflects without its
  ``ON DELETE``; options are read from ``PRAGMA foreign_key_list`` instead;
- ``database-only-default``: a server default the models lack (a lazy migration must give a
  ``NOT NULL`` column one to add it to a table with rows).

What remains is ranked: ``error`` (the app breaks or holds data the models forbid) before
``warning`` (the schema drifted without breaking queries).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy
from sqlalchemy import Column, Engine, ForeignKeyConstraint, Index, MetaData, Table
from sqlalchemy import UniqueConstraint as SAUniqueConstraint
from sqlalchemy.engine import Connection, Dialect

from tenantfixtures.migrations.errors import SchemaMismatchError, require_alembic
from tenantfixtures.migrations.seed import affinity
from tenantfixtures.migrations.state import IGNORED_TABLES


class Severity(StrEnum):
    """How bad a difference is; the order of the members is the order of the report."""

    ERROR = "error"  # the app breaks, or the database holds data the models forbid
    WARNING = "warning"


SEVERITIES = tuple(Severity)


@dataclass(frozen=True)
class Difference:
    severity: Severity
    table: str
    subject: str  # "column tokens", "index ix_x", "table"
    detail: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.table}: {self.subject}: {self.detail}"


def schema_diff(engine: Engine, metadata: MetaData) -> list[str]:
    """The differences between the database behind ``engine`` and ``metadata``, most severe
    first, one line each (``"error: messages: column tokens: missing ..."``); empty if equal."""
    return [str(difference) for difference in compare(engine, metadata)]


def assert_schema_matches(engine: Engine, metadata: MetaData) -> None:
    """Raise SchemaMismatchError, with a block per table, unless the schemas match."""
    differences = compare(engine, metadata)
    if differences:
        raise SchemaMismatchError(render(differences), [str(d) for d in differences])


def versions() -> str:
    import alembic

    return (
        f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__},"
        f" Alembic {alembic.__version__}"
    )


def render(differences: Sequence[Difference]) -> str:
    """A block per table, a line per difference: what a failing check prints."""
    counts = ", ".join(
        f"{n} {severity}{'s' if n > 1 else ''}"
        for severity in SEVERITIES
        if (n := sum(d.severity == severity for d in differences))
    )
    lines = [f"the database schema does not match the models ({counts}):"]
    for table in dict.fromkeys(d.table for d in differences):
        lines.append(f"  {table}")
        lines += [
            f"    {d.severity:<8}{d.subject}: {d.detail}" for d in differences if d.table == table
        ]
    lines.append(f"versions: {versions()}")
    return "\n".join(lines)


def compare(engine: Engine, metadata: MetaData) -> list[Difference]:
    """Normalised differences, errors first, then by table."""
    require_alembic()
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return not (
            type_ == "table" and (name in IGNORED_TABLES or str(name).startswith("sqlite_"))
        )

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": include_name,
            },
        )
        raw = compare_metadata(context, metadata)
        found = _Normaliser(connection, metadata).run(raw)
        found += _primary_key_differences(connection, metadata)
    return sorted(found, key=lambda d: (SEVERITIES.index(d.severity), d.table, d.subject))


def _flatten(raw: Iterable[Any]) -> list[tuple[Any, ...]]:
    flat: list[tuple[Any, ...]] = []
    for entry in raw:
        flat += [tuple(item) for item in entry] if isinstance(entry, list) else [tuple(entry)]
    return flat


class _Normaliser:
    """Turns ``compare_metadata`` tuples into Differences, dropping SQLite's false alarms."""

    def __init__(self, connection: Connection, metadata: MetaData) -> None:
        self.connection = connection
        self.metadata = metadata
        self.dialect: Dialect = connection.dialect

    def run(self, raw: Iterable[Any]) -> list[Difference]:
        entries = _flatten(raw)
        entries = self._pair_unique_indexes(entries)
        entries, found = self._pair_foreign_keys(entries)
        for entry in entries:
            difference = self._describe(entry)
            if difference is not None:
                found.append(difference)
        return found

    def type_name(self, type_: Any) -> str:
        try:
            return str(type_.compile(dialect=self.dialect))
        except Exception:  # a type this dialect cannot render
            return repr(type_)

    def column_text(self, column: Column[Any]) -> str:
        parts = [self.type_name(column.type), "NULL" if column.nullable else "NOT NULL"]
        if column.server_default is not None:
            parts.append(f"DEFAULT {_default_text(column.server_default)}")
        return " ".join(parts)

    def _pair_unique_indexes(self, entries: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Rule unique-index: drop a removed unique index and an added unique constraint (or
        the reverse) on the same table and columns."""
        signature: dict[tuple[str, str, tuple[str, ...]], list[int]] = {}
        for position, entry in enumerate(entries):
            kind, obj = entry[0], entry[-1] if entry[0].endswith("constraint") else entry[1]
            if kind in ("add_index", "remove_index") and obj.unique:
                side = "model" if kind == "add_index" else "database"
            elif kind in ("add_constraint", "remove_constraint") and isinstance(
                obj, SAUniqueConstraint
            ):
                side = "model" if kind == "add_constraint" else "database"
            else:
                continue
            key = (side, obj.table.name, tuple(sorted(c.name for c in obj.columns)))
            signature.setdefault(key, []).append(position)
        dropped: set[int] = set()
        for (side, table, columns), positions in signature.items():
            if side != "model":
                continue
            others = signature.get(("database", table, columns), [])
            for model_at, database_at in zip(positions, others, strict=False):
                model_kind, database_kind = entries[model_at][0], entries[database_at][0]
                if model_kind.endswith("index") != database_kind.endswith("index"):
                    dropped |= {model_at, database_at}
        return [entry for position, entry in enumerate(entries) if position not in dropped]

    def _pair_foreign_keys(
        self, entries: list[tuple[Any, ...]]
    ) -> tuple[list[tuple[Any, ...]], list[Difference]]:
        """Rule foreign-key-options: an FK removed and added with the same columns differs at
        most in its options; compare those with ``PRAGMA foreign_key_list``."""
        removed = {_fk_key(e[1]): i for i, e in enumerate(entries) if e[0] == "remove_fk"}
        dropped: set[int] = set()
        found: list[Difference] = []
        for position, entry in enumerate(entries):
            if entry[0] != "add_fk" or _fk_key(entry[1]) not in removed:
                continue
            model_fk: ForeignKeyConstraint = entry[1]
            dropped |= {position, removed[_fk_key(model_fk)]}
            actual = self._pragma_fk_options(model_fk)
            wanted = (_action(model_fk.onupdate), _action(model_fk.ondelete))
            if actual is not None and actual != wanted:
                found.append(
                    Difference(
                        Severity.ERROR,
                        model_fk.table.name,
                        f"foreign key {_fk_text(model_fk)}",
                        f"ON UPDATE {actual[0]} ON DELETE {actual[1]} in the database,"
                        f" ON UPDATE {wanted[0]} ON DELETE {wanted[1]} in the model",
                    )
                )
        return [e for i, e in enumerate(entries) if i not in dropped], found

    def _pragma_fk_options(self, fk: ForeignKeyConstraint) -> tuple[str, str] | None:
        rows = self.connection.exec_driver_sql(
            f'PRAGMA foreign_key_list("{fk.table.name}")'
        ).fetchall()
        columns = [element.parent.name for element in fk.elements]
        for row in rows:
            if row[3] == columns[0] and row[2] == fk.referred_table.name:
                return str(row[5]), str(row[6])
        return None

    def _describe(self, entry: tuple[Any, ...]) -> Difference | None:
        kind = entry[0]
        if kind == "add_table":
            table: Table = entry[1]
            return Difference(Severity.ERROR, table.name, "table", "missing from the database")
        if kind == "remove_table":
            return Difference(
                Severity.WARNING, entry[1].name, "table", "in the database, not in the models"
            )
        if kind in ("add_column", "remove_column"):
            return self._column_presence(kind, entry[2], entry[3])
        if kind in ("add_index", "remove_index"):
            index: Index = entry[1]
            columns = ", ".join(str(getattr(c, "name", c)) for c in index.expressions)
            what = f"{'unique ' if index.unique else ''}index {index.name}"
            table_name = index.table.name if index.table is not None else "?"
            if kind == "add_index":
                severity = Severity.ERROR if index.unique else Severity.WARNING
                return Difference(severity, table_name, what, f"missing (model: on {columns})")
            return Difference(
                Severity.WARNING, table_name, what, f"in the database only (on {columns})"
            )
        if kind in ("add_constraint", "remove_constraint"):
            constraint = entry[-1]
            columns = ", ".join(c.name for c in constraint.columns)
            if kind == "add_constraint":
                return Difference(
                    Severity.ERROR,
                    constraint.table.name,
                    f"unique ({columns})",
                    "missing from the database",
                )
            return Difference(
                Severity.WARNING,
                constraint.table.name,
                f"unique ({columns})",
                "in the database only",
            )
        if kind in ("add_fk", "remove_fk"):
            fk: ForeignKeyConstraint = entry[1]
            if kind == "add_fk":
                return Difference(
                    Severity.ERROR,
                    fk.table.name,
                    f"foreign key {_fk_text(fk)}",
                    "missing from the database",
                )
            return Difference(
                Severity.WARNING,
                fk.table.name,
                f"foreign key {_fk_text(fk)}",
                "in the database only",
            )
        if kind.startswith("modify_"):
            return self._modification(entry)
        return Difference(Severity.WARNING, "?", kind, repr(entry[1:]))

    def _column_presence(self, kind: str, table: str, column: Column[Any]) -> Difference:
        if kind == "add_column":
            hint = ""
            if not column.nullable and column.server_default is None:
                hint = (
                    "; SQLite refuses ADD COLUMN ... NOT NULL without a DEFAULT on a table"
                    " with rows"
                )
            return Difference(
                Severity.ERROR,
                table,
                f"column {column.name}",
                f"missing from the database (model: {self.column_text(column)}){hint}",
            )
        blocking = not column.nullable and column.server_default is None and not column.primary_key
        return Difference(
            Severity.ERROR if blocking else Severity.WARNING,
            table,
            f"column {column.name}",
            f"in the database only ({self.column_text(column)})"
            + (
                "; inserts through the models will fail: it is NOT NULL without a DEFAULT"
                if blocking
                else ""
            ),
        )

    def _modification(self, entry: tuple[Any, ...]) -> Difference | None:
        kind, _, table, name, _info, database, model = entry
        model_column = (
            self.metadata.tables[table].c[name] if table in self.metadata.tables else None
        )
        subject = f"column {name}"
        if kind == "modify_nullable":
            if model_column is not None and model_column.primary_key:
                return None  # rule integer-primary-key
            if database:
                return Difference(
                    Severity.ERROR,
                    table,
                    subject,
                    "the database allows NULL, the model says NOT NULL"
                    " (making it NOT NULL needs a table rebuild on SQLite)",
                )
            return Difference(
                Severity.ERROR, table, subject, "the database says NOT NULL, the model allows NULL"
            )
        if kind == "modify_type":
            old, new = self.type_name(database), self.type_name(model)
            if affinity(old) == affinity(new):
                return None  # rule type-affinity
            return Difference(
                Severity.WARNING,
                table,
                subject,
                f"declared {old} (affinity {affinity(old)}) in the database,"
                f" {new} (affinity {affinity(new)}) in the model",
            )
        if kind == "modify_default":
            if model is None:
                return None  # rule database-only-default
            shown = _default_text(database) if database is not None else "none"
            return Difference(
                Severity.WARNING,
                table,
                subject,
                f"server default {shown} in the database, {_default_text(model)} in the model",
            )
        return None  # modify_comment: SQLite has no comments


def _default_text(default: Any) -> str:
    """A server default as SQL: reflected ones are SQL text, a model's plain string is a
    literal (``server_default="pro"`` is ``'pro'``)."""
    arg = getattr(default, "arg", default)
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    return str(getattr(arg, "text", arg))


def _action(value: str | None) -> str:
    return (value or "NO ACTION").upper()


def _fk_key(fk: ForeignKeyConstraint) -> tuple[str, tuple[str, ...], str, tuple[str, ...]]:
    return (
        fk.table.name,
        tuple(element.parent.name for element in fk.elements),
        fk.referred_table.name,
        tuple(element.column.name for element in fk.elements),
    )


def _fk_text(fk: ForeignKeyConstraint) -> str:
    _table, columns, parent, parent_columns = _fk_key(fk)
    return f"({', '.join(columns)}) -> {parent}({', '.join(parent_columns)})"


def _primary_key_differences(connection: Connection, metadata: MetaData) -> list[Difference]:
    """Alembic does not compare primary keys; the PRAGMA does."""
    found = []
    for table in metadata.sorted_tables:
        rows = connection.exec_driver_sql(f'PRAGMA table_info("{table.name}")').fetchall()
        if not rows:
            continue
        database = [row[1] for row in sorted(rows, key=lambda row: row[5]) if row[5]]
        model = [column.name for column in table.primary_key.columns]
        if database != model:
            found.append(
                Difference(
                    Severity.ERROR,
                    table.name,
                    "primary key",
                    f"({', '.join(database) or 'rowid'}) in the database, ({', '.join(model)})"
                    " in the model",
                )
            )
    return found
