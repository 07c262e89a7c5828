"""One test's databases, in the layer that stands for its data dir, created on first touch."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tenantfixtures.errors import TenantIsolationError
from tenantfixtures.guards.violations import GuardKind, Violation, record
from tenantfixtures.sandbox import sqlite
from tenantfixtures.sandbox.isolation import Layer
from tenantfixtures.sandbox.layout import DatabaseRef, Layout

# Statements that are not the app's queries: transaction control, savepoints, PRAGMAs.
_BOOKKEEPING = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


@dataclass
class Scope:
    """One ``tenancy.only(...)`` block: the tenants allowed, the violations recorded inside."""

    allowed: frozenset[str]
    violations: list[Violation] = field(default_factory=list)


@dataclass(frozen=True)
class Templates:
    system: Path
    tenant: Path


class Sandbox:
    """Databases of one test (or of the session, outside tests).

    The system and tenant databases are cloned from their templates the first time anyone
    opens them, unless the test laid the file down itself (an old-schema database, say): a
    database found in the real data dir is never what a test gets. Other files are the
    layer's: whatever the real data dir ships, seen through the overlay or copied.
    """

    def __init__(self, layer: Layer, layout: Layout, templates: Templates | None) -> None:
        self.layer = layer
        self.root = layer.root
        self.layout = layout
        self.templates = templates
        self.tenants: list[str] = []
        self.touched: Counter[DatabaseRef] = Counter()
        self.statements: list[tuple[DatabaseRef, str]] = []
        self._provided: set[DatabaseRef] = set()
        self._scopes: list[Scope] = []
        self._lock = threading.RLock()

    def path_of(self, ref: DatabaseRef) -> Path:
        return self.root / self.layout.relative_path(ref)

    def ref_of(self, path: Path) -> DatabaseRef:
        """Which database a file inside this sandbox is."""
        return self.layout.ref_for(self.layout.relative_path_in(path, self.root))

    def provide(self, ref: DatabaseRef) -> Path:
        """The file for ``ref``, cloned from its template on first touch."""
        path = self.path_of(ref)
        with self._lock:
            if ref not in self._provided:
                self._create(ref, path)
                self._provided.add(ref)
            if ref.kind == "tenant" and ref.name not in self.tenants:
                self.tenants.append(ref.name)
        return path

    def is_provided(self, ref: DatabaseRef) -> bool:
        """Whether ``ref``'s file has been opened (or handed over) in this sandbox."""
        return ref in self._provided

    def hand_over(self, ref: DatabaseRef) -> Path:
        """The file for ``ref``, left to the test to lay down (an old-schema database, say):
        no template is cloned there, and a file the real data dir holds is not visible."""
        path = self.path_of(ref)
        with self._lock:
            if ref not in self._provided:
                if not self.layer.written_here(self.layout.relative_path(ref)):
                    sqlite.remove_database(path)
                self._provided.add(ref)
        return path

    def _create(self, ref: DatabaseRef, path: Path) -> None:
        if ref.kind == "other" or self.templates is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            return
        if self.layer.written_here(self.layout.relative_path(ref)):
            return
        template = self.templates.system if ref.kind == "system" else self.templates.tenant
        sqlite.clone(template, path)

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
        violation = record(
            GuardKind.TENANT_SCOPE, f"{ref} was touched inside only({allowed}): {action}"
        )
        with self._lock:
            scope.violations.append(violation)
        raise TenantIsolationError(violation.render())

    @contextmanager
    def only(self, tenant_ids: frozenset[str]) -> Iterator[Scope]:
        """Refuse other tenants inside the block (``Tenancy.only`` reports what was refused)."""
        scope = Scope(tenant_ids)
        self._scopes.append(scope)
        try:
            yield scope
        finally:
            self._scopes.pop()
