"""Old databases on demand: a snapshot (SQL file, SQLite file, ``alembic:<revision>``) becomes a
SQLite file, so a test can run the app's migration on the schema production tenants still have.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.pool import NullPool

from tenantfixtures.migrations.alembic_support import AlembicProject, sqlite_url
from tenantfixtures.migrations.errors import SnapshotError, hide_snapshot_errors
from tenantfixtures.sandbox.sqlite import copy_database

ALEMBIC_PREFIX = "alembic:"
SQLITE_HEADER = b"SQLite format 3\x00"
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_SCHEMA_HINT = (
    " (this looks like `sqlite3 DB .schema` output, which cannot be replayed: delete that"
    " statement, or write the snapshot with `.dump` or `tenantfixtures snapshot`)"
)


def materialize(
    snapshot: str | os.PathLike[str], target: Path, *, alembic_config: Path | None = None
) -> None:
    """Create the SQLite database ``target`` from ``snapshot``.

    A ``.sql`` file (or any text) is executed statement by statement, so an error names its
    file and line; a SQLite file is copied; ``alembic:<revision>`` upgrades a fresh database to
    that revision with ``alembic_config``. Raises SnapshotError; never leaves a partial target.
    """
    __tracebackhide__ = hide_snapshot_errors
    if target.exists() and target.stat().st_size:
        raise SnapshotError(f"cannot materialize {snapshot} onto {target}: the file exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(snapshot, str) and snapshot.startswith(ALEMBIC_PREFIX):
            _from_alembic(snapshot.removeprefix(ALEMBIC_PREFIX), target, alembic_config)
            return
        path = Path(snapshot)
        if not path.is_file():
            raise SnapshotError(f"snapshot {path} does not exist")
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header == SQLITE_HEADER:
            _from_database(path, target)
        else:
            _from_sql(path, target)
    except BaseException as exc:
        _remove(target)
        if isinstance(exc, SnapshotError):  # its message says where: our frames add nothing
            raise exc.with_traceback(None) from None
        raise


def open_from_snapshot(
    snapshot: str | os.PathLike[str],
    target: Path,
    initializer: Callable[[Engine], None] | None,
    metadata: MetaData,
    *,
    alembic_config: Path | None = None,
) -> None:
    """Lay an old database down at ``target`` and let the app open it as in production: its
    initializer (lazy migration) runs on it, or ``create_all`` when it has none."""
    __tracebackhide__ = hide_snapshot_errors
    materialize(snapshot, target, alembic_config=alembic_config)
    engine = create_engine(sqlite_url(target), poolclass=NullPool)
    try:
        if initializer is not None:
            initializer(engine)
        else:
            metadata.create_all(engine)
    finally:
        engine.dispose()


def split_sql(text: str) -> Iterator[tuple[int, str]]:
    """``(line, statement)`` pairs of a SQL script, split where SQLite would end a statement
    (quotes, comments and trigger bodies respected); raises ValueError on an unfinished one."""
    start = 0
    for match in re.finditer(";", text):
        candidate = text[start : match.end()]
        if sqlite3.complete_statement(candidate):
            if _COMMENTS.sub("", candidate).strip(" \t\r\n;"):
                yield _first_line(text, start), candidate
            start = match.end()
    rest = text[start:]
    if _COMMENTS.sub("", rest).strip():
        line = _first_line(text, start)
        raise ValueError(f"line {line}: statement without a closing ';'")


def _first_line(text: str, start: int) -> int:
    """The line of the first character at or after ``start`` that is not blank or comment."""
    offset = start
    while True:
        blank = re.match(r"\s+|--[^\n]*|/\*.*?\*/", text[offset:], re.DOTALL)
        if blank is None or not blank.group():
            break
        offset += blank.end()
    return text.count("\n", 0, offset) + 1


def _from_sql(path: Path, target: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{path} is neither a SQLite database nor UTF-8 SQL: {exc}") from None
    try:
        statements = list(split_sql(text))
    except ValueError as exc:
        raise SnapshotError(f"{path}:{str(exc).removeprefix('line ')}") from None
    # Autocommit: a dump's own BEGIN/COMMIT apply as written; foreign keys stay off, as for .dump.
    connection = sqlite3.connect(target, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        for line, statement in statements:
            try:
                connection.execute(statement)
            except sqlite3.Error as exc:
                hint = _SCHEMA_HINT if "reserved for internal use" in str(exc) else ""
                first = _COMMENTS.sub("", statement).strip().splitlines()[0][:80]
                raise SnapshotError(f"{path}:{line}: {exc}{hint}\n  in: {first}") from None
    finally:
        connection.close()


def _from_database(path: Path, target: Path) -> None:
    """A byte copy (with any WAL): snapshot files are frozen, and reading the source through
    ``sqlite3`` would count as opening a database outside the test's sandbox."""
    copy_database(path, target)
    connection = sqlite3.connect(target)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"snapshot {path} is not a usable SQLite database: {exc}") from None
    finally:
        connection.close()


def _from_alembic(revision: str, target: Path, alembic_config: Path | None) -> None:
    if alembic_config is None:
        raise SnapshotError(
            f"snapshot alembic:{revision} needs an Alembic config: set the ini option"
            " tenantfixtures_alembic (or pass alembic_config=)"
        )
    project = AlembicProject.load(alembic_config)
    project.check_revision(revision)
    try:
        project.upgrade(target, revision)
    except Exception as exc:
        raise SnapshotError(
            f"`alembic upgrade {revision}` of a new database fails: {project.explain(exc)}"
        ) from None


def _remove(target: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
