"""The built-in migration checks, independent of pytest's collection: each takes a prepared
snapshot database and a work directory, and raises CheckFailed with a readable report."""

from __future__ import annotations

import os
import shutil
import sqlite3
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.pool import NullPool

from tenantfixtures.migrations.alembic_support import AlembicProject, sqlite_url
from tenantfixtures.migrations.diff import assert_schema_matches, versions
from tenantfixtures.migrations.errors import SchemaMismatchError, error_text
from tenantfixtures.migrations.state import (
    DatabaseState,
    TableData,
    compare_states,
    compare_structure,
    connect,
    read_state,
)

Migration = Callable[[Path], None]
_READS = ("SELECT", "PRAGMA", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "EXPLAIN")
_DDL = ("CREATE", "ALTER", "DROP")


class CheckFailed(AssertionError):
    """A check's verdict; its message is the whole report (no traceback needed)."""


class SimulatedCrash(BaseException):
    """Raised mid-migration to play a killed process: not an Exception, so app code that
    catches errors does not swallow it."""


@dataclass(frozen=True)
class Subject:
    """A snapshot as the checks see it: a prepared database file they only ever copy."""

    label: str
    prepared: Path
    migrate: Migration
    metadata: MetaData


def initializer_migration(
    initializer: Callable[[Engine], None] | None, metadata: MetaData
) -> Migration:
    """The app's own initializer (its lazy migration), or ``create_all`` without one."""

    def migrate(path: Path) -> None:
        engine = create_engine(sqlite_url(path), poolclass=NullPool)
        try:
            (initializer or metadata.create_all)(engine)
        finally:
            engine.dispose()

    return migrate


def alembic_migration(project: AlembicProject) -> Migration:
    return lambda path: project.upgrade(path, "heads")


def _is_write(statement: str) -> bool:
    return not statement.lstrip().upper().startswith(_READS)


@contextmanager
def watching(path: Path, crash_after: int | None = None) -> Iterator[list[str]]:
    """The writing statements any SQLAlchemy engine runs on ``path`` (the app may make its
    own engines); with ``crash_after=k``, SimulatedCrash is raised once the k-th has run."""
    statements: list[str] = []
    target = os.path.realpath(path)

    def after(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if (
            not _is_write(statement)
            or os.path.realpath(connection.engine.url.database or "") != target
        ):
            return
        statements.append(" ".join(statement.split()))
        if len(statements) == crash_after:
            raise SimulatedCrash(statement)

    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield statements
    finally:
        event.remove(Engine, "after_cursor_execute", after)


def _schema_report(path: Path, metadata: MetaData) -> str:
    engine = create_engine(sqlite_url(path), poolclass=NullPool)
    try:
        assert_schema_matches(engine, metadata)
    except SchemaMismatchError as exc:
        return str(exc)
    finally:
        engine.dispose()
    return f"the database schema matches the models\nversions: {versions()}"


def _fresh_copy(subject: Subject, workdir: Path, name: str) -> Path:
    path = workdir / f"{name}.sqlite3"
    shutil.copyfile(subject.prepared, path)
    return path


def _migrate(subject: Subject, path: Path, when: str = "") -> None:
    try:
        subject.migrate(path)
    except Exception as exc:
        raise CheckFailed(
            f"{subject.label}: the migration fails{when}:\n  {error_text(exc)}\n"
            f"it left behind a database where {_schema_report(path, subject.metadata)}"
        ) from exc


def reaches_models(subject: Subject, workdir: Path) -> None:
    """After the migration, the snapshot's schema is the models' schema."""
    path = _fresh_copy(subject, workdir, "reaches_models")
    _migrate(subject, path)
    engine = create_engine(sqlite_url(path), poolclass=NullPool)
    try:
        assert_schema_matches(engine, subject.metadata)
    except SchemaMismatchError as exc:
        raise CheckFailed(f"{subject.label}: after the migration, {exc}") from None
    finally:
        engine.dispose()


def idempotent(subject: Subject, workdir: Path) -> None:
    """A second run changes nothing, and a run killed after any statement, then rerun, ends
    where an uninterrupted run does (pysqlite commits DDL at once: a crash leaves it half-done)."""
    clean = _fresh_copy(subject, workdir, "idempotent")
    with watching(clean) as writes:
        _migrate(subject, clean)
    expected = read_state(clean)
    with watching(clean) as again:
        _migrate(subject, clean, " when run a second time")
    problems = [f"a second run executed DDL: {s}" for s in again if s.upper().startswith(_DDL)]
    problems += compare_states(expected, read_state(clean), "after one run", "after two runs")
    if problems:
        raise CheckFailed(
            f"{subject.label}: running the migration twice is not a no-op:\n" + _bullets(problems)
        )
    for number, statement in enumerate(writes, 1):
        path = _fresh_copy(subject, workdir, f"crash-{number}")
        # Whatever the app made of the crash, the process is gone.
        with watching(path, crash_after=number), suppress(SimulatedCrash, Exception):
            subject.migrate(path)
        shown = statement if len(statement) <= 100 else statement[:97] + "..."
        where = f"after statement {number} of {len(writes)} ({shown})"
        _migrate(subject, path, f" when rerun on a database whose migration was killed {where}")
        problems = compare_states(
            expected, read_state(path), "after an uninterrupted run", "after the crash and a rerun"
        )
        if problems:
            raise CheckFailed(
                f"{subject.label}: a half-migrated database is not repaired by running the"
                f" migration again.\nThe first run was killed {where}; after a rerun:\n"
                + _bullets(problems)
            )


def keeps_rows(subject: Subject, workdir: Path) -> None:
    """Rows survive the migration unchanged, new columns hold their defaults, and foreign
    keys and the file itself are intact (a table rebuild with FKs on can cascade-delete)."""
    path = _fresh_copy(subject, workdir, "keeps_rows")
    before = read_state(path)
    violations_before = _foreign_key_violations(path)
    _migrate(subject, path)
    after = read_state(path)
    problems = rows_kept(before, after, subject.metadata)
    problems += _describe_violations(_foreign_key_violations(path) - violations_before)
    with connect(path) as connection:
        integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        problems += [f"PRAGMA integrity_check: {line}" for line in integrity]
    if problems:
        raise CheckFailed(
            f"{subject.label}: the migration does not keep the data:\n" + _bullets(problems)
        )
    empty = sorted(name for name, data in before.data.items() if not data.rows)
    if empty:
        warnings.warn(
            f"{subject.label}: tables {', '.join(empty)} hold no rows, so the checks cannot"
            " see migrations that only fail on tables with rows",
            SnapshotWithoutRowsWarning,
            stacklevel=1,
        )


class SnapshotWithoutRowsWarning(pytest.PytestWarning):
    """A snapshot table is empty and could not be seeded: SQLite's ADD COLUMN errors appear
    only on tables holding rows."""


def rows_kept(before: DatabaseState, after: DatabaseState, metadata: MetaData) -> list[str]:
    problems: list[str] = []
    for table, data in sorted(before.data.items()):
        if not data.rows:
            continue
        if table not in after.data:
            problems.append(f"{table}: the table and its {len(data.rows)} row(s) are gone")
            continue
        new = after.data[table]
        problems += [
            f"{table}.{column}: the column was dropped with its values"
            for column in data.columns
            if column not in new.columns
        ]
        key = before.tables[table].key or [c for c in data.columns if c in new.columns]
        old_rows, new_rows = _keyed(data, key), _keyed(new, key)
        # Counted per key: a table without a primary key may hold equal rows.
        lost = Counter(_keys(data, key)) - Counter(_keys(new, key))
        if lost:
            problems.append(
                f"{table}: {lost.total()} of {len(data.rows)} row(s) lost"
                f" (e.g. {_key_text(key, next(iter(lost)))})"
            )
        changed = [
            (k, column, old_rows[k][column], new_rows[k][column])
            for k in old_rows
            if k in new_rows
            for column in data.columns
            if column in new.columns and old_rows[k][column] != new_rows[k][column]
        ]
        if changed:
            k, column, old, value = changed[0]
            problems.append(
                f"{table}: {len(changed)} value(s) changed (e.g. {_key_text(key, k)}:"
                f" {column} {old!r} -> {value!r})"
            )
        model = metadata.tables.get(table)
        for column in (c for c in new.columns if c not in data.columns):
            survivors = [new_rows[k][column] for k in old_rows if k in new_rows]
            problems += _new_column_problems(table, column, survivors, model)
    return problems


def _new_column_problems(table: str, column: str, values: list[Any], model: Any) -> list[str]:
    model_column = model.c.get(column) if model is not None else None
    if model_column is None or not values:
        return []
    nulls = sum(value is None for value in values)
    if nulls and not model_column.nullable:
        return [
            f"{table}.{column}: NULL in {nulls} of {len(values)} old row(s);"
            " the model says NOT NULL"
        ]
    default = model_column.default
    if default is None or not default.is_scalar:
        return []
    wanted = int(default.arg) if isinstance(default.arg, bool) else default.arg
    odd = [value for value in values if value != wanted]
    if odd:
        return [
            f"{table}.{column}: old rows hold {odd[0]!r} ({len(odd)} of {len(values)}),"
            f" the model's default is {wanted!r}"
        ]
    return []


def _rows(data: TableData) -> list[dict[str, Any]]:
    return [dict(zip(data.columns, row, strict=True)) for row in data.rows]


def _keys(data: TableData, key: list[str]) -> list[tuple[Any, ...]]:
    """Each row's key; a key column the migration dropped reads as NULL (reported apart)."""
    return [tuple(row.get(column) for column in key) for row in _rows(data)]


def _keyed(data: TableData, key: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return dict(zip(_keys(data, key), _rows(data), strict=True))


def _key_text(key: list[str], values: tuple[Any, ...]) -> str:
    return ", ".join(f"{column}={value!r}" for column, value in zip(key, values, strict=True))


def _foreign_key_violations(path: Path) -> set[tuple[str, int, str]]:
    """(table, rowid, parent) of each row whose foreign key points at no row."""
    with connect(path) as connection:
        rows = connection.execute("PRAGMA foreign_key_check").fetchall()
    return {(table, rowid, parent) for table, rowid, parent, _ in rows}


def _describe_violations(violations: set[tuple[str, int, str]]) -> list[str]:
    """One line per table and parent: a bad default or a rebuild breaks every row alike."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for table, rowid, parent in sorted(violations):
        grouped.setdefault((table, parent), []).append(rowid)
    return [
        f"PRAGMA foreign_key_check: {len(rowids)} {table} row(s) point at missing {parent}"
        f" rows (e.g. rowid {rowids[0]})"
        for (table, parent), rowids in grouped.items()
    ]


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"  - {line}" for line in lines)


def single_head(project: AlembicProject) -> None:
    heads = project.heads()
    if len(heads) != 1:
        shown = ", ".join(project.describe(head) for head in heads) or "none"
        raise CheckFailed(
            f"Alembic history {project.config_file}: expected one head, found {len(heads)}:"
            f" {shown}" + ("; merge them with `alembic merge heads`" if heads else "")
        )


def upgrade_from_base(project: AlembicProject, metadata: MetaData, workdir: Path) -> None:
    """An empty database upgraded to head has the models' schema."""
    path = workdir / "from-base.sqlite3"
    try:
        project.upgrade(path)
    except Exception as exc:
        raise CheckFailed(
            f"upgrading an empty database to head fails:\n  {project.explain(exc)}"
        ) from exc
    engine = create_engine(sqlite_url(path), poolclass=NullPool)
    try:
        assert_schema_matches(engine, metadata)
    except SchemaMismatchError as exc:
        raise CheckFailed(f"after `alembic upgrade head` from an empty database, {exc}") from None
    finally:
        engine.dispose()


def downgrade_upgrade_roundtrip(project: AlembicProject, workdir: Path) -> None:
    """Each downgrade restores the schema of the revision before it, and upgrading again
    restores head. A downgrade raising NotImplementedError ends the walk down (irreversible)."""
    if len(project.heads()) > 1:
        pytest.skip("the history has several heads (see single_head)")
    path = workdir / "roundtrip.sqlite3"
    sqlite3.connect(path).close()
    revisions = project.revisions()
    shapes = {"base": read_state(path).tables}
    for revision in revisions:
        _step(
            project, project.upgrade, path, revision, f"upgrading to {project.describe(revision)}"
        )
        shapes[revision] = read_state(path).tables
    for position in reversed(range(len(revisions))):
        revision, previous = revisions[position], revisions[position - 1] if position else "base"
        what = f"downgrading {project.describe(revision)}"
        try:
            _step(project, project.downgrade, path, previous, what)
        except CheckFailed as failure:
            if isinstance(failure.__cause__, NotImplementedError):
                break
            raise
        trace = compare_structure(
            shapes[previous], read_state(path).tables, f"at {previous}", "after the downgrade"
        )
        if trace:
            raise CheckFailed(
                f"downgrading {project.describe(revision)} does not restore {previous}:\n"
                + _bullets(trace)
            )
    _step(project, project.upgrade, path, "heads", "upgrading again after the downgrades")
    trace = compare_structure(
        shapes[revisions[-1]] if revisions else shapes["base"],
        read_state(path).tables,
        "at head",
        "after down and up again",
    )
    if trace:
        raise CheckFailed("downgrading and upgrading again changes the schema:\n" + _bullets(trace))


def _step(
    project: AlembicProject,
    command: Callable[[Path, str], None],
    path: Path,
    revision: str,
    what: str,
) -> None:
    try:
        command(path, revision)
    except Exception as exc:
        raise CheckFailed(f"{what} fails:\n  {project.explain(exc)}") from exc
