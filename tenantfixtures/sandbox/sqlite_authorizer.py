"""Refuse SQLite ``ATTACH`` (and ``VACUUM INTO``) of files outside the sandbox in redirect mode.

SQLite opens attached files from C, so the Python-level redirect cannot serve them; the
authorizer is the one place that sees every attached file name before SQLite opens it.
Facts it relies on (SQLite 3.40): a bound or computed name (``ATTACH ?``, ``'a'||'b'``) reaches
the authorizer as None; ``VACUUM INTO x`` runs an internal ``ATTACH`` of the evaluated ``x``,
indistinguishable from a user ``ATTACH``; plain ``VACUUM`` attaches ``''``.

A connection holds one authorizer, so an app calling ``set_authorizer`` later replaces ours.
``GuardedConnection`` (pass it, or ``guarded_factory(...)``, as the ``factory`` of
``sqlite3.connect``) keeps ours in front of the app's instead.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

Authorizer = Callable[[int, str | None, str | None, str | None, str | None], int]

_MEMORY_NAMES = frozenset({"", ":memory:"})
_FIX = (
    "redirect mode cannot serve files SQLite opens itself: attach databases inside the sandbox "
    "(under tenancy.data_dir), or run in namespace mode: --tf-isolation=namespace"
)


def _attached_path(filename: str) -> str | None:
    """The file an ATTACH name opens (relative to the cwd), or None for an in-memory database.

    ``file:`` names are read as URIs, as SQLite does on connections opened with ``uri=True``.
    """
    if filename in _MEMORY_NAMES:
        return None
    if not filename.startswith("file:"):
        return filename
    uri = urlsplit(filename)
    if "mode=memory" in uri.query.split("&"):
        return None
    path = unquote(uri.path)
    if path in _MEMORY_NAMES:
        return None
    return path


def attach_refusal(filename: str | None, allowed_root: Path) -> str | None:
    """Why attaching ``filename`` must be refused, or None when it stays inside the sandbox."""
    if filename is None:
        return (
            "ATTACH DATABASE (or VACUUM INTO) with a file name computed at run time (a bound "
            "parameter or an expression): the sandbox cannot check where it points. Write the "
            f"name as a literal. {_FIX}."
        )
    path = _attached_path(filename)
    if path is None:
        return None
    resolved = os.path.realpath(os.path.abspath(path))
    root = os.path.realpath(allowed_root)
    if resolved == root or resolved.startswith(root.rstrip("/") + "/"):
        return None
    return (
        f"ATTACH DATABASE {filename!r} (an ATTACH statement, or the target of VACUUM INTO) opens "
        f"{resolved}, outside the test's sandbox {root}. {_FIX}."
    )


def _attach_checker(allowed_root: Path, refuse: Callable[[str], None]) -> Authorizer:
    def check(
        action: int, arg1: str | None, arg2: str | None, schema: str | None, source: str | None
    ) -> int:
        if action != sqlite3.SQLITE_ATTACH:
            return sqlite3.SQLITE_OK
        message = attach_refusal(arg1, allowed_root)
        if message is None:
            return sqlite3.SQLITE_OK
        refuse(message)
        return sqlite3.SQLITE_DENY

    return check


class GuardedConnection(sqlite3.Connection):
    """A connection whose sandbox authorizer survives the app's own ``set_authorizer``: the
    app's callback runs after ours, and ``set_authorizer(None)`` removes only the app's."""

    _tf_guard: Authorizer | None = None
    _tf_app: Authorizer | None = None

    def set_authorizer(self, authorizer_callback: Authorizer | None, /) -> None:
        self._tf_app = authorizer_callback
        self._tf_apply()

    def _tf_apply(self) -> None:
        guard, app = self._tf_guard, self._tf_app
        if guard is None or app is None:
            super().set_authorizer(guard or app)
            return

        def both(
            action: int, arg1: str | None, arg2: str | None, schema: str | None, source: str | None
        ) -> int:
            verdict = guard(action, arg1, arg2, schema, source)
            if verdict != sqlite3.SQLITE_OK:
                return verdict
            return app(action, arg1, arg2, schema, source)

        super().set_authorizer(both)


@functools.cache
def guarded_factory(factory: type[sqlite3.Connection] = sqlite3.Connection) -> type[Any]:
    """A connection class combining ``factory`` (the app's own, if any) with the guard."""
    if issubclass(factory, GuardedConnection):
        return factory
    if factory is sqlite3.Connection:
        return GuardedConnection
    return type(f"Guarded{factory.__name__}", (GuardedConnection, factory), {})


def restrict_attach(
    connection: sqlite3.Connection, allowed_root: Path, refuse: Callable[[str], None]
) -> None:
    """Deny ``ATTACH``/``VACUUM INTO`` of files outside ``allowed_root`` on ``connection``;
    ``refuse(message)`` is called first, so the test fails even if the app swallows the
    ``sqlite3.DatabaseError`` ("not authorized"). In-memory and temporary databases pass."""
    checker = _attach_checker(allowed_root, refuse)
    if isinstance(connection, GuardedConnection):
        connection._tf_guard = checker
        connection._tf_apply()
    else:
        connection.set_authorizer(checker)
