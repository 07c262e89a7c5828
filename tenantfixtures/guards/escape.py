"""The sandbox-escape guard: during a test, a database opened outside the test's sandbox, or a
file written under the app's real data dir, fails the test.

It watches the lowest layers, so nothing slips past: Python's audit events ``sqlite3.connect``
(every SQLite open, whatever the library or thread, after the redirect had its say) and
``open`` (every file opened for writing), plus SQLAlchemy checkouts of non-SQLite engines.
Audit hooks cannot be removed, so one hook per process dispatches to the active guard.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

from tenantfixtures.errors import SandboxEscapeError
from tenantfixtures.sandbox import sqlite
from tenantfixtures.sandbox.layout import is_within

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# SQLite files other tools keep next to a project (coverage.py's data file).
_ALWAYS_ALLOWED_NAMES = (".coverage",)


class SandboxEscapeWarning(pytest.PytestWarning):
    """``--tf-guard=warn``: a sandbox escape that was let through."""


@dataclass
class EscapeWatch:
    """What one test may touch, and what it touched that it should not have."""

    sandbox_root: Path
    data_dir: Path
    allowed: list[str]
    mode: str
    violations: list[str] = field(default_factory=list)

    def check_url(self, url: str) -> None:
        if not any(url.startswith(prefix) for prefix in self.allowed):
            self._violation(f"connected to the database {url}")

    def check_sqlite(self, path: str) -> None:
        absolute = os.path.realpath(path)  # a symlink is where it points
        if is_within(absolute, str(self.sandbox_root)) or self._allowed_path(absolute):
            return
        self._violation(f"opened the SQLite database {absolute}")

    def check_write(self, path: str) -> None:
        """Redirect mode's backstop: a write under the real data dir that no wrapper served.
        (In namespace mode the sandbox root *is* the data dir's path: every write is safe.)"""
        absolute = os.path.realpath(path)
        if (
            is_within(absolute, str(self.data_dir))
            and not is_within(absolute, str(self.sandbox_root))
            and not self._allowed_path(absolute)
        ):
            self._violation(f"opened {absolute} for writing, under the app's real data dir")

    def record(self, message: str) -> None:
        """A refusal made elsewhere (redirect mode's ATTACH or subprocess veto): the test
        fails with it even if the app caught the error."""
        if self.mode == "warn":
            warnings.warn(SandboxEscapeWarning(message), stacklevel=3)
        else:
            self.violations.append(message)

    def _allowed_path(self, absolute: str) -> bool:
        if os.path.basename(absolute).startswith(_ALWAYS_ALLOWED_NAMES):
            return True
        return any(is_within(absolute, os.path.realpath(p)) for p in self.allowed if "://" not in p)

    def _violation(self, what: str) -> None:
        message = (
            f"sandbox escape: the test {what}; its sandbox is {self.sandbox_root}."
            " Open databases through the app's data dir (they are served from the sandbox), or"
            " allow it with @pytest.mark.allow_path(...) or the ini option"
            " tenantfixtures_allowed_paths (--tf-guard=warn|off to relax every guard)"
        )
        self.record(message)
        if self.mode != "warn":
            raise SandboxEscapeError(message)


class EscapeGuard:
    """Routes audit events and SQLAlchemy checkouts to the running test's watch, if any."""

    def __init__(self) -> None:
        self.watch: EscapeWatch | None = None
        self._checking = threading.local()
        sys.addaudithook(self._audit)
        event.listen(Engine, "engine_connect", self._on_engine_connect)

    def begin(
        self, sandbox_root: Path, data_dir: Path, allowed: Iterable[str], mode: str
    ) -> EscapeWatch:
        self.watch = EscapeWatch(sandbox_root, data_dir, list(allowed), mode)
        return self.watch

    def end(self) -> None:
        self.watch = None

    def _audit(self, name: str, args: tuple[Any, ...]) -> None:
        watch = self.watch
        if watch is None or name not in ("sqlite3.connect", "open"):
            return
        if getattr(self._checking, "active", False):  # our own checks may open files
            return
        self._checking.active = True
        try:
            if name == "sqlite3.connect":
                database = args[0]
                path = sqlite.file_path(database, uri=str(database).startswith("file:"))
                if path is not None:
                    watch.check_sqlite(path)
            elif _writes(args) and isinstance(args[0], (str, bytes, os.PathLike)):
                watch.check_write(os.fsdecode(args[0]))
        finally:
            self._checking.active = False

    def _on_engine_connect(self, connection: Connection) -> None:
        watch = self.watch
        if watch is not None and connection.engine.dialect.name != "sqlite":
            watch.check_url(connection.engine.url.render_as_string(hide_password=True))


def _writes(args: tuple[Any, ...]) -> bool:
    mode, flags = (args[1], args[2]) if len(args) >= 3 else (None, 0)
    if isinstance(mode, str) and any(ch in mode for ch in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


_guard: EscapeGuard | None = None


def escape_guard() -> EscapeGuard:
    """This process's guard, created on first use (its audit hook lives as long as the process)."""
    global _guard
    if _guard is None:
        _guard = EscapeGuard()
    return _guard
