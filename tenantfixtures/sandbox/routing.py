"""Every SQLite database the app opens, served from the active sandbox, without app changes.

All ways an app opens SQLite end in ``sqlite3.connect`` (SQLAlchemy's pysqlite dialect and
aiosqlite look it up at call time, raw code calls it), so one wrapper routes them all:
- it clones the system or tenant database from its template on first touch;
- in redirect mode it rewrites a path under the real data dir to the test's copy, and
  restricts ``ATTACH``/``VACUUM INTO`` to the sandbox;
- it counts the open (``tenancy.touched``) and enforces ``tenancy.only()``.

SQLAlchemy listeners only *observe*: which database a pooled connection is (for query
counts), and which engines hold connections to the data dir (disposed between tests, since a
pooled connection keeps the previous test's file open). Nothing mutates the engine's connect
arguments, which some SQLAlchemy 2.0 releases share between connections.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, event
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite as _PYSQLITE
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.pool import ConnectionPoolEntry

from tenantfixtures.errors import UnsafeDatabasePathError
from tenantfixtures.sandbox import sqlite
from tenantfixtures.sandbox.layout import DatabaseRef, Layout, is_within
from tenantfixtures.sandbox.sandbox import Sandbox
from tenantfixtures.sandbox.stray import warn_if_stray

# Keys under which a pooled connection remembers which database it is, and that it was routed.
DATABASE_INFO_KEY = "tenantfixtures.database"
ROUTED_INFO_KEY = "tenantfixtures.routed"
_URI_POSITION = 6  # sqlite3.connect(database, timeout, detect_types, isolation_level,
#                    check_same_thread, factory, cached_statements, uri, ...)
Restrict = Callable[[sqlite3.Connection, Path], None]


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


@dataclass(frozen=True)
class _Route:
    target: object  # what sqlite3.connect opens
    ref: DatabaseRef | None  # which database of the layout it is, if any
    routed: bool  # under the data dir (or mirrored): the connection must not outlive the test


class SqliteRouter:
    def __init__(self, passthrough: list[Path]) -> None:
        self.passthrough = passthrough
        self.layout: Layout | None = None
        self.sandbox: Sandbox | None = None
        self.mirror: Mirror | None = None
        # Redirect mode: connections served from a copy are limited to it.
        self.restrict: Restrict | None = None
        self._routed_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
        self._file_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
        self._saved: tuple[Any, Any, Any] | None = None
        # Databases created under it outside the data dir are reported (see stray.py).
        self.project_root: Path | None = None

    @property
    def installed(self) -> bool:
        return self._saved is not None

    def watch_engines(self) -> None:
        """Learn about engines from the start, even before anything is routed: an engine
        the app connects at import time must be disposed once routing begins."""
        if not event.contains(Engine, "engine_connect", self._on_engine_connect):
            event.listen(Engine, "engine_connect", self._on_engine_connect)

    def adopt_existing_engines(self) -> None:
        """Engines made before anything watched (the plugin was not configured when the app
        was imported): found once through the garbage collector, so their pooled connections
        to real files are closed before the first test."""
        import gc

        for candidate in gc.get_objects():
            if isinstance(candidate, Engine) and candidate.dialect.name == "sqlite":
                url = candidate.url
                if sqlite.file_path(url.database, url.query.get("uri") == "true") is not None:
                    self._file_engines.add(candidate)

    def install(self) -> None:
        if self._saved is not None:
            return
        self.watch_engines()
        self._saved = (sqlite3.connect, sqlite3.dbapi2.connect, _PYSQLITE.create_connect_args)
        sqlite3.connect = sqlite3.dbapi2.connect = self._connect  # type: ignore[assignment]
        router = self

        def create_connect_args(dialect: Any, url: URL) -> Any:
            # pysqlite makes the path absolute (hiding '..') before any connect: check first.
            if router.layout is not None and url.database and url.database != ":memory:":
                router.layout.check_raw(url.database)
                _refuse_split_path(url, router.layout)
            return router._saved[2](dialect, url) if router._saved else None

        _PYSQLITE.create_connect_args = create_connect_args  # type: ignore[method-assign,assignment]
        _MkdirCheck.install(self)
        event.listen(Engine, "do_connect", self._on_do_connect)
        event.listen(Engine, "before_cursor_execute", self._on_statement)

    def uninstall(self) -> None:
        if event.contains(Engine, "engine_connect", self._on_engine_connect):
            event.remove(Engine, "engine_connect", self._on_engine_connect)
        if self._saved is None:
            return
        _MkdirCheck.router = None
        sqlite3.connect, sqlite3.dbapi2.connect = self._saved[:2]
        _PYSQLITE.create_connect_args = self._saved[2]  # type: ignore[method-assign]
        self._saved = None
        event.remove(Engine, "do_connect", self._on_do_connect)
        event.remove(Engine, "before_cursor_execute", self._on_statement)

    def locate(self, database: object, uri: bool, provide: bool = True) -> _Route:
        """Where ``database`` is served from, creating it in the sandbox if ``provide``."""
        path = sqlite.file_path(database, uri)
        if path is None:
            return _Route(database, None, False)
        if uri and "/" in sqlite.uri_query(database):
            raise UnsafeDatabasePathError(
                f"database {database!r} has a '/' in its URI query: a tenant id with '?' or '#'"
                " was put into a path; validate tenant ids before building paths from them"
            )
        sandbox, layout = self.sandbox, self.layout
        if sandbox is not None and layout is not None:
            layout.check_raw(path)  # '' and '.' ids, '..' climbing: before normalising
        absolute = os.path.realpath(path)  # symlink aliases of the data dir are the data dir
        if sandbox is not None and is_within(absolute, str(sandbox.root)):
            ref = sandbox.ref_of(Path(absolute))
            if provide:
                sandbox.provide(ref)
            return _Route(database, ref, True)
        if any(is_within(absolute, str(root)) for root in self.passthrough):
            return _Route(database, None, False)
        if layout is not None and sandbox is not None:
            relative = layout.relative(absolute)
            if relative is None:
                return _Route(database, None, False)
            ref = layout.ref_for(relative)
            target = sandbox.provide(ref) if provide else sandbox.path_of(ref)
            return _Route(sqlite.with_path(database, uri, str(target)), ref, True)
        if self.mirror is not None:
            mirrored = self.mirror.target(absolute)
            if mirrored is not None:
                return _Route(sqlite.with_path(database, uri, str(mirrored)), None, True)
        return _Route(database, None, False)

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
            if engine.dialect.is_async:
                _dispose_async(engine)
            else:
                engine.dispose()

    def _connect(self, database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        assert self._saved is not None
        uri = kwargs.get("uri", args[_URI_POSITION] if len(args) > _URI_POSITION else False)
        route = self.locate(database, bool(uri))
        if not route.routed and self.layout is not None and self.project_root is not None:
            path = sqlite.file_path(database, bool(uri))
            if path is not None:
                warn_if_stray(path, self.layout, self.project_root)
        sandbox = self.sandbox
        if route.ref is not None and sandbox is not None:
            sandbox.record_open(route.ref)
        connection: sqlite3.Connection = self._saved[0](route.target, *args, **kwargs)
        if self.restrict is not None and sandbox is not None:
            # Any connection, even in-memory, can ATTACH a file of the real data dir.
            self.restrict(connection, sandbox.root)
        return connection

    def _on_do_connect(
        self,
        dialect: Dialect,
        entry: ConnectionPoolEntry,
        cargs: list[Any],
        cparams: dict[str, Any],
    ) -> None:
        if dialect.name != "sqlite" or not cargs:
            return
        route = self.locate(cargs[0], bool(cparams.get("uri")), provide=False)
        if route.routed:
            entry.info[ROUTED_INFO_KEY] = True
        if route.ref is not None:
            entry.info[DATABASE_INFO_KEY] = route.ref

    def _on_engine_connect(self, connection: Connection) -> None:
        """Track engines whose connections we routed: those must reconnect for the next test.
        Others (in-memory databases, a history store, a scratch file) are left alone."""
        if connection.engine.dialect.name != "sqlite":
            return
        url = connection.engine.url
        if connection.info.get(ROUTED_INFO_KEY):
            self._routed_engines.add(connection.engine)
        elif sqlite.file_path(url.database, url.query.get("uri") == "true") is not None:
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


class _MkdirCheck:
    """Apps make a tenant's directory before its database (``os.makedirs(f"data/organizations/
    {org_id}")``): checking the id there too gives a hostile id the same clear refusal instead
    of a raw ``OSError`` (a name too long) or a directory beside another tenant's. An audit hook,
    since it sees every ``os.mkdir``; hooks cannot be removed, so one dispatches to the router."""

    router: SqliteRouter | None = None
    _hooked = False

    @classmethod
    def install(cls, router: SqliteRouter) -> None:
        cls.router = router
        if not cls._hooked:
            sys.addaudithook(cls._audit)
            cls._hooked = True

    @classmethod
    def _audit(cls, event: str, args: tuple[Any, ...]) -> None:
        if event != "os.mkdir" or cls.router is None or cls.router.layout is None:
            return
        path, _mode, dir_fd = args
        if dir_fd in (None, -1) and isinstance(path, (str, bytes, os.PathLike)):  # -1: no fd
            layout, sandbox = cls.router.layout, cls.router.sandbox
            layout.check_raw(os.fsdecode(path))
            if sandbox is not None and sandbox.root != layout.data_dir:
                layout.check_raw(os.fsdecode(path), sandbox.root)  # redirect mode mapped it


def _refuse_split_path(url: URL, layout: Layout) -> None:
    """``sqlite:///data/organizations/a?mode=ro/tenant.db`` (a tenant id holding '?') opens
    ``organizations/a``, with the rest of the path taken for a query: refuse it."""
    split = [f"{key}={value}" for key, value in url.query.items() if "/" in str(value)]
    if split and layout.relative(url.database or "") is not None:
        raise UnsafeDatabasePathError(
            f"database URL {url.render_as_string(hide_password=True)!r} has a '/' in its query"
            f" ({', '.join(split)}): a tenant id with '?' was put into a path;"
            " validate tenant ids before building paths from them"
        )


def _dispose_async(engine: Engine) -> None:
    """Close an async engine's pooled connections (aiosqlite's each hold a thread) on a private
    event loop: the test's loop is gone by now, and dropping them unclosed leaks the threads.
    Inside a running loop that is impossible, so the pool is only dropped there."""
    import asyncio

    from sqlalchemy.ext.asyncio import AsyncEngine

    if asyncio._get_running_loop() is not None:
        engine.dispose(close=False)
        return
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(AsyncEngine(engine).dispose())
    finally:
        loop.close()
