"""SQLite specifics: what a connect() target names on disk, and copying database files safely."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Files SQLite keeps beside a database; a WAL file holds committed pages not yet in the main file.
WAL_SUFFIX = "-wal"
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def file_path(database: object, uri: bool) -> str | None:
    """The filesystem path a ``sqlite3.connect`` target opens, or None for in-memory/temp DBs."""
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    elif isinstance(database, os.PathLike):
        database = os.fspath(database)
    if not isinstance(database, str) or database in ("", ":memory:"):
        return None
    if uri and database.startswith("file:"):
        parts = urlsplit(database)
        if "mode=memory" in parts.query or parts.path in ("", ":memory:"):
            return None
        return unquote(parts.path)
    return database


def uri_query(database: object) -> str:
    """The query part of a ``file:`` URI target ('' for plain paths)."""
    return urlsplit(database).query if isinstance(database, str) else ""


def with_path(database: object, uri: bool, new_path: str) -> str:
    """The connect target that opens ``new_path`` instead, keeping URI parameters."""
    if uri and isinstance(database, str) and database.startswith("file:"):
        query = urlsplit(database).query
        return f"file:{new_path}" + (f"?{query}" if query else "")
    return new_path


def clone(template: Path, target: Path) -> None:
    """Put a copy of a template database (built in rollback-journal mode, so one file holds it
    all) at ``target``, replacing whatever file is there with its WAL and journal.

    Unlinking first matters on an overlay: opening the real file for writing would copy all of
    it up, only to be truncated.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_database(target)
    shutil.copyfile(template, target)


def remove_database(path: Path) -> None:
    """Remove a database file with its WAL and journal, if there."""
    for suffix in ("", *SIDE_SUFFIXES):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def copy_database(source: Path, target: Path) -> None:
    """Copy a live database file with its WAL, so committed pages still in the WAL come along.

    SQLite replays the copied WAL when the copy is first opened; the shared-memory index is
    rebuilt, so it is not copied.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + WAL_SUFFIX)
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + WAL_SUFFIX))


def finalize_template(path: Path) -> None:
    """Fold any WAL into the main file and switch to rollback-journal mode, so a plain file
    copy of ``path`` is a complete database."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
    for suffix in SIDE_SUFFIXES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)
