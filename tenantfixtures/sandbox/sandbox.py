"""One test's databases: a directory that mirrors the app's data dir, filled on first touch."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tenantfixtures.errors import TenantIsolationError
from tenantfixtures.sandbox import sqlite
from tenantfixtures.sandbox.layout import DatabaseRef, Layout

# Statements that are not the app's queries: transaction control, savepoints, PRAGMAs.
_BOOKKEEPING = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


@dataclass
class _Scope:
    allowed: frozenset[str]
    violations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Templates:
    system: Path
    tenant: Path


class Sandbox:
    """Databases of one test (or of the session, outside tests).

    A database file appears the first time anyone opens it: system and tenant databases are
    cloned from their templates, any other file under the data dir is copied from the real one
    (copy-on-write), so shipped read-only data still reads and nothing is written back.
    """

    def __init__(self, root: Path, layout: Layout, templates: Templates | None) -> None:
        self.root = root
        self.layout = layout
        self.templates = templates
        self.tenants: list[str] = []
        self.touched: Counter[DatabaseRef] = Counter()
        self.statements: list[tuple[DatabaseRef, str]] = []
        self._scopes: list[_Scope] = []
        self._lock = threading.RLock()

    def path_of(self, ref: DatabaseRef) -> Path:
        return self.root / self.layout.relative_path(ref)

    def ref_of(self, path: Path) -> DatabaseRef:
        """Which database a file inside this sandbox is."""
        return self.layout.ref_for(self.layout.relative_path_in(path, self.root))

    def provide(self, ref: DatabaseRef) -> Path:
        """The sandbox file for ``ref``, created from its template or the real file if new."""
        path = self.path_of(ref)
        with self._lock:
            if not path.exists():
                self._create(ref, path)
            if ref.kind == "tenant" and ref.name not in self.tenants:
                self.tenants.append(ref.name)
        return path

    def _create(self, ref: DatabaseRef, path: Path) -> None:
        template = None
        if self.templates is not None and ref.kind != "other":
            template = self.templates.system if ref.kind == "system" else self.templates.tenant
        if template is not None:
            sqlite.clone(template, path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        real = self.layout.data_dir / self.layout.relative_path(ref)
        if ref.kind == "other" and real.is_file():
            sqlite.copy_database(real, path)

    def record_statement(self, ref: DatabaseRef, statement: str) -> None:
        """Log an app statement (not transaction control or PRAGMAs) and enforce scopes."""
        self.check_scope(ref, statement)
        if not statement.lstrip()[:9].upper().startswith(_BOOKKEEPING):
            with self._lock:
                self.statements.append((ref, statement))

    def record_open(self, ref: DatabaseRef) -> None:
        """Count a connection and enforce ``only(...)`` scopes before it opens."""
        with self._lock:
            self.touched[ref] += 1
        self.check_scope(ref, "connect")

    def check_scope(self, ref: DatabaseRef, action: str) -> None:
        if not self._scopes or ref.kind != "tenant" or ref.name in self._scopes[-1].allowed:
            return
        scope = self._scopes[-1]
        allowed = ", ".join(repr(name) for name in sorted(scope.allowed))
        message = f"cross-tenant access: {ref} was touched inside only({allowed}): {action}"
        with self._lock:
            scope.violations.append(message)
        raise TenantIsolationError(message)

    @contextmanager
    def only(self, tenant_ids: frozenset[str]) -> Iterator[None]:
        """Refuse other tenants inside the block; raise at its end if the code inside caught
        the refusal (an app turning it into a 500 must still fail the test)."""
        scope = _Scope(tenant_ids)
        self._scopes.append(scope)
        try:
            yield
        finally:
            self._scopes.pop()
        if scope.violations:
            raise TenantIsolationError("\n".join(scope.violations))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
