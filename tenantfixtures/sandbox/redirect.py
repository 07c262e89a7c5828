"""Serve the app's SQLite databases from the active sandbox, without changes to the app.

Every way an app opens SQLite goes through one function, ``Redirect.route``:
- SQLAlchemy engines, including those created at import time: a class-level ``do_connect``
  listener rewrites the file the DBAPI opens (pooled connections are disposed between tests);
- ``sqlite3.connect`` called directly (and by aiosqlite): the function is wrapped;
- directories the app creates under its data dir (``os.mkdir``, hence ``os.makedirs`` and
  ``Path.mkdir``): created in the sandbox instead.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.pool import ConnectionPoolEntry

from tenantfixtures.sandbox import sqlite
from tenantfixtures.sandbox.layout import DatabaseRef, Layout, is_within
from tenantfixtures.sandbox.sandbox import Sandbox

# Keys under which a pooled connection remembers which database it is, and that it was routed.
DATABASE_INFO_KEY = "tenantfixtures.database"
ROUTED_INFO_KEY = "tenantfixtures.routed"
_URI_POSITION = 6  # sqlite3.connect(database, timeout, detect_types, isolation_level,
#                    check_same_thread, factory, cached_statements, uri, ...)


@dataclass
class Mirror:
    """Before the layout is known: every database file under ``within`` is copied on write
    into ``directory`` (the rule that covers databases opened while conftest imports the app)."""

    within: Path
    directory: Path
    exclude: list[Path] = field(default_factory=list)

    def target(self, absolute: str) -> Path | None:
        if not is_within(absolute, str(self.within)):
            return None
        if any(is_within(absolute, str(excluded)) for excluded in self.exclude):
            return None
        target = self.directory / Path(absolute).relative_to(self.within)
        if not target.exists():
            real = Path(absolute)
            if real.is_file():
                sqlite.copy_database(real, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
        return target


class Redirect:
    def __init__(self, passthrough: list[Path]) -> None:
        self.passthrough = passthrough
        self.layout: Layout | None = None
        self.sandbox: Sandbox | None = None
        self.mirror: Mirror | None = None
        self._routed_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
        self._file_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
        self._saved: tuple[Any, Any, Any] | None = None

    @property
    def installed(self) -> bool:
        return self._saved is not None

    def watch_engines(self) -> None:
        """Learn about engines from the start, even before anything is routed: an engine
        the app connects at import time must be disposed once routing begins."""
        if not event.contains(Engine, "engine_connect", self._on_engine_connect):
            event.listen(Engine, "engine_connect", self._on_engine_connect)

    def install(self) -> None:
        if self._saved is not None:
            return
        self.watch_engines()
        self._saved = (sqlite3.connect, sqlite3.dbapi2.connect, os.mkdir)
        sqlite3.connect = sqlite3.dbapi2.connect = self._connect  # type: ignore[assignment]
        os.mkdir = self._mkdir
        event.listen(Engine, "do_connect", self._on_do_connect)
        event.listen(Engine, "before_cursor_execute", self._on_statement)

    def uninstall(self) -> None:
        if event.contains(Engine, "engine_connect", self._on_engine_connect):
            event.remove(Engine, "engine_connect", self._on_engine_connect)
        if self._saved is None:
            return
        sqlite3.connect, sqlite3.dbapi2.connect, os.mkdir = self._saved
        self._saved = None
        event.remove(Engine, "do_connect", self._on_do_connect)
        event.remove(Engine, "before_cursor_execute", self._on_statement)

    def route(self, database: object, uri: bool) -> tuple[object, DatabaseRef | None]:
        """The connect target to open instead of ``database``, and which database it is."""
        path = sqlite.file_path(database, uri)
        if path is None:
            return database, None
        absolute = os.path.abspath(path)
        sandbox = self.sandbox
        if sandbox is not None and is_within(absolute, str(sandbox.root)):
            return database, sandbox.ref_of(Path(absolute))
        if any(is_within(absolute, str(root)) for root in self.passthrough):
            return database, None
        if self.layout is not None and sandbox is not None:
            relative = self.layout.relative(path)
            if relative is None:
                return database, None
            ref = self.layout.ref_for(relative)
            return sqlite.with_path(database, uri, str(sandbox.provide(ref))), ref
        if self.mirror is not None:
            target = self.mirror.target(absolute)
            if target is not None:
                return sqlite.with_path(database, uri, str(target)), None
        return database, None

    def dispose_engines(self, every_file_engine: bool = False) -> None:
        """Close pooled connections so the next checkout opens (and routes) afresh.

        Between tests only engines we routed need it; when the routing rules change (the
        layout becomes known), any file-backed engine may hold a connection opened under the
        old rules, e.g. the app's import-time engine on its real data dir.
        """
        engines = [*self._routed_engines]
        if every_file_engine:
            engines += self._file_engines
        for engine in engines:
            # Async pools cannot close connections outside their event loop: drop them instead.
            engine.dispose(close=not engine.dialect.is_async)

    def _connect(self, database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        assert self._saved is not None
        uri = kwargs.get("uri", args[_URI_POSITION] if len(args) > _URI_POSITION else False)
        target, ref = self.route(database, bool(uri))
        if ref is not None and self.sandbox is not None:
            self.sandbox.record_open(ref)
        connection: sqlite3.Connection = self._saved[0](target, *args, **kwargs)
        return connection

    def _mkdir(self, path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        assert self._saved is not None
        original_mkdir = self._saved[2]
        layout, sandbox = self.layout, self.sandbox
        if dir_fd is None and layout is not None and sandbox is not None:
            relative = layout.relative(os.fsdecode(path))
            if relative is not None:
                os.makedirs(sandbox.root / relative, mode, exist_ok=True)
                return
        original_mkdir(path, mode, dir_fd=dir_fd)

    def _on_do_connect(
        self,
        dialect: Dialect,
        entry: ConnectionPoolEntry,
        cargs: list[Any],
        cparams: dict[str, Any],
    ) -> None:
        if dialect.name != "sqlite" or not cargs:
            return
        target, ref = self.route(cargs[0], bool(cparams.get("uri")))
        if ref is not None or target != cargs[0]:
            entry.info[ROUTED_INFO_KEY] = True
        cargs[0] = target
        if ref is not None:
            entry.info[DATABASE_INFO_KEY] = ref

    def _on_engine_connect(self, connection: Connection) -> None:
        """Track engines whose connections we routed: those must reconnect for the next test.
        Others (in-memory databases, a history store, a scratch file) are left alone."""
        if connection.info.get(ROUTED_INFO_KEY):
            self._routed_engines.add(connection.engine)
        elif connection.engine.dialect.name == "sqlite":
            url = connection.engine.url
            if sqlite.file_path(url.database, url.query.get("uri") == "true") is not None:
                self._file_engines.add(connection.engine)

    def _on_statement(
        self,
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        sandbox = self.sandbox
        if sandbox is None:
            return
        ref = connection.info.get(DATABASE_INFO_KEY)
        if ref is not None:
            sandbox.record_statement(ref, statement)
