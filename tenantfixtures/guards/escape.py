"""The sandbox-escape guard: during a test, a database opened outside the test's sandbox, or a
file written under the app's real data dir, fails the test.

It watches the lowest layers, so nothing slips past: Python's audit events ``sqlite3.connect``
(every SQLite open, whatever the library or thread, after the redirect had its say) and
``open`` (every file opened for writing), plus SQLAlchemy checkouts of non-SQLite engines.
Audit hooks cannot be removed, so one hook per process dispatches to the active guard.

Each escape is recorded in the test's violation log (``guards.violations``): the test fails even
if the app caught the error, whether in setup, in the body or in a fixture's teardown. SQLAlchemy
and the sandbox layout are imported when the guard is first used, not at pytest start-up.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tenantfixtures.errors import SandboxEscapeError
from tenantfixtures.guards.violations import GuardKind, Mode, record
from tenantfixtures.sandbox import sqlite

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# SQLite files other tools keep next to a project (coverage.py's data file).
_ALWAYS_ALLOWED_NAMES = (".coverage",)
_BACKENDS = {"postgresql": "PostgreSQL", "mysql": "MySQL", "mssql": "SQL Server"}
_SANDBOXED_ADVICE = (
    "Open databases through the app's data dir (they are served from the sandbox), or allow it"
    " with @pytest.mark.allow_path(...)"
)


@dataclass
class EscapeWatch:
    """What one test may touch; what it touched that it should not have goes to its log."""

    sandbox_root: Path
    data_dir: Path
    allowed: list[str]
    mode: Mode

    def check_url(self, url: str, backend: str) -> None:
        """A server database (``url`` without its password) is shared by every test and run:
        tenantfixtures sandboxes SQLite files only."""
        if not any(url.startswith(prefix) for prefix in self.allowed):
            self._violation(
                f"connected to the {backend} database {url}, which tenantfixtures does not"
                " sandbox (SQLite files only): every test and run shares it",
                f"Point the app at SQLite files under its data dir in tests, or allow it with"
                f" @pytest.mark.allow_path({url!r})",
            )

    def check_sqlite(self, path: str) -> None:
        absolute = os.path.realpath(path)  # a symlink is where it points
        if _is_within(absolute, str(self.sandbox_root)) or self._allowed_path(absolute):
            return
        self._violation(f"opened the SQLite database {absolute}", _SANDBOXED_ADVICE)

    def check_write(self, path: str) -> None:
        """Redirect mode's backstop: a write under the real data dir that no wrapper served.
        (In namespace mode the sandbox root *is* the data dir's path: every write is safe.)"""
        absolute = os.path.realpath(path)
        if (
            _is_within(absolute, str(self.data_dir))
            and not _is_within(absolute, str(self.sandbox_root))
            and not self._allowed_path(absolute)
        ):
            self._violation(
                f"opened {absolute} for writing, under the app's real data dir", _SANDBOXED_ADVICE
            )

    def record(self, message: str) -> None:
        """A refusal made elsewhere (redirect mode's ATTACH or subprocess veto, which raise
        their own error): the test fails with it even if the app caught the error."""
        record(GuardKind.SANDBOX_ESCAPE, message, mode=self.mode)

    def _allowed_path(self, absolute: str) -> bool:
        if os.path.basename(absolute).startswith(_ALWAYS_ALLOWED_NAMES):
            return True
        return any(
            _is_within(absolute, os.path.realpath(p)) for p in self.allowed if "://" not in p
        )

    def _violation(self, what: str, advice: str) -> None:
        message = (
            f"the test {what}; its sandbox is {self.sandbox_root}. {advice} or the ini option"
            " tenantfixtures_allowed_paths (--tf-guard=warn|off to relax every guard)"
        )
        violation = record(GuardKind.SANDBOX_ESCAPE, message, mode=self.mode)
        if self.mode != "warn":
            raise SandboxEscapeError(violation.render())


class EscapeGuard:
    """Routes audit events and SQLAlchemy checkouts to the running test's watch, if any."""

    def __init__(self) -> None:
        self.watch: EscapeWatch | None = None
        self._checking = threading.local()
        from sqlalchemy import Engine, event

        sys.addaudithook(self._audit)
        event.listen(Engine, "engine_connect", self._on_engine_connect)

    def begin(
        self, sandbox_root: Path, data_dir: Path, allowed: Iterable[str], mode: str
    ) -> EscapeWatch:
        """Watch one test; ``mode`` is ``--tf-guard`` (fail or warn)."""
        self.watch = EscapeWatch(sandbox_root, data_dir, list(allowed), cast(Mode, mode))
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
        engine = connection.engine
        if watch is not None and engine.dialect.name != "sqlite":
            url = engine.url.set(password=None).render_as_string(hide_password=False)
            watch.check_url(url, _BACKENDS.get(engine.dialect.name, engine.dialect.name))


def _is_within(path: str, root: str) -> bool:
    from tenantfixtures.sandbox.layout import is_within  # imports SQLAlchemy: not at start-up

    return is_within(path, root)


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
