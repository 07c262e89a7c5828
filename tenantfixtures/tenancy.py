"""The ``tenancy`` fixture's object: the test's view of its own system and tenant databases."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.orm import Session

from tenantfixtures.errors import QueryCountError, TenantIsolationError
from tenantfixtures.guards.violations import active_log, render_all
from tenantfixtures.migrations.errors import SnapshotError, hide_snapshot_errors
from tenantfixtures.sandbox.layout import DatabaseRef, validate_tenant_id
from tenantfixtures.sandbox.sandbox import Sandbox


@dataclass(frozen=True)
class QueryLog:
    """Statements the app (and the test) ran, in order, with the database each ran on.

    Transaction control, savepoints and PRAGMAs are left out: they are not the app's queries.
    """

    entries: tuple[tuple[DatabaseRef, str], ...]

    def statements(self, tenant: str | None = None, system: bool = False) -> list[str]:
        """All statements, or those on one tenant's database, or on the system database."""
        if tenant is not None and system:
            raise ValueError("choose tenant=... or system=True, not both")
        wanted = DatabaseRef.tenant(tenant) if tenant is not None else None
        if system:
            wanted = DatabaseRef.system()
        return [sql for ref, sql in self.entries if wanted is None or ref == wanted]

    def count(self, tenant: str | None = None, system: bool = False) -> int:
        return len(self.statements(tenant, system))

    def __len__(self) -> int:
        return len(self.entries)


class CapturedQueries:
    """What ``assert_queries`` saw: filled in when its block ends."""

    def __init__(self) -> None:
        self.log = QueryLog(())

    @property
    def statements(self) -> list[str]:
        return self.log.statements()


@dataclass(frozen=True)
class Touched:
    """How many connections the test opened to each database (app and test code alike)."""

    system: int
    tenants: Mapping[str, int]

    def __bool__(self) -> bool:
        return bool(self.system or self.tenants)


# Lays an old database down at a path from a snapshot, then runs the app's initializer on it.
SnapshotOpener = Callable[[DatabaseRef, "str | os.PathLike[str]", Path], None]
_active: Tenancy | None = None


def active_tenancy() -> Tenancy:
    """The running test's tenancy, for code that cannot take a fixture (e.g. factories)."""
    if _active is None:
        raise RuntimeError(
            "no tenantfixtures sandbox is active: this needs a running test in a project whose"
            " tenant_topology is configured (see the tenancy fixture)"
        )
    return _active


def activate(tenancy: Tenancy | None) -> None:
    global _active
    _active = tenancy


class Tenancy:
    """The current test's sandbox: sessions on its databases, and what the test touched."""

    def __init__(
        self, sandbox: Sandbox, default_tenant: str, open_snapshot: SnapshotOpener | None = None
    ) -> None:
        self._sandbox = sandbox
        self._open_snapshot = open_snapshot
        self._default_tenants = [validate_tenant_id(default_tenant)]
        self._engines: dict[DatabaseRef, Engine] = {}
        self._sessions: dict[DatabaseRef, Session] = {}

    @property
    def data_dir(self) -> Path:
        """The sandbox root: the test's private stand-in for the app's data dir."""
        return self._sandbox.root

    @property
    def tenants(self) -> tuple[str, ...]:
        """Tenant ids whose databases exist in this test so far, in order of creation."""
        return tuple(self._sandbox.tenants)

    @property
    def default_tenant(self) -> str:
        return self._default_tenants[-1]

    @property
    def touched(self) -> Touched:
        counts = dict(self._sandbox.touched)
        return Touched(
            system=counts.get(DatabaseRef.system(), 0),
            tenants={ref.name: n for ref, n in counts.items() if ref.kind == "tenant"},
        )

    @property
    def queries(self) -> QueryLog:
        """Every statement run on the test's databases so far (see ``assert_queries``)."""
        return QueryLog(tuple(self._sandbox.statements))

    @contextmanager
    def assert_queries(
        self,
        max: int | None = None,
        *,
        exactly: int | None = None,
        tenant: str | None = None,
        system: bool = False,
    ) -> Iterator[CapturedQueries]:
        """Fail if the block runs more than ``max`` (or not ``exactly``) statements on the chosen
        database (a tenant, the system DB, or all of them): N+1 queries show up here."""
        if (max is None) == (exactly is None):
            raise ValueError("assert_queries needs one of max=N or exactly=N")
        start = len(self._sandbox.statements)
        captured = CapturedQueries()
        yield captured
        captured.log = QueryLog(tuple(self._sandbox.statements[start:]))
        statements = captured.log.statements(tenant, system)
        if exactly is not None:
            failed, expected = len(statements) != exactly, f"exactly {exactly}"
        else:
            assert max is not None
            failed, expected = len(statements) > max, f"at most {max}"
        if failed:
            where = (
                f"tenant {tenant!r}" if tenant else "the system DB" if system else "all databases"
            )
            listing = "\n".join(f"  {n}. {sql}" for n, sql in enumerate(statements, 1))
            raise QueryCountError(
                f"expected {expected} queries on {where}, got {len(statements)}:\n{listing}"
            )

    def system(self, *, snapshot: str | os.PathLike[str] | None = None) -> Session:
        """The test's session on the system database (see ``tenant`` for ``snapshot``)."""
        __tracebackhide__ = hide_snapshot_errors
        return self._session(self._from_snapshot(DatabaseRef.system(), snapshot))

    def tenant(
        self, tenant_id: str | None = None, *, snapshot: str | os.PathLike[str] | None = None
    ) -> Session:
        """The test's session on a tenant's database (the default tenant if none is named),
        created from the tenant template on first use; or, with ``snapshot`` (a SQL file, a
        SQLite file or ``alembic:<revision>``), from that older schema, migrated by the app's
        own initializer as in production."""
        __tracebackhide__ = hide_snapshot_errors
        return self._session(self._from_snapshot(self._tenant_ref(tenant_id), snapshot))

    def tenant_of(self, session: Session) -> str | None:
        """The tenant whose database this test session is on (None for the system DB or a
        session that is not one of the test's)."""
        for ref, candidate in self._sessions.items():
            if candidate is session and ref.kind == "tenant":
                return ref.name
        return None

    def system_engine(self) -> Engine:
        return self._engine(DatabaseRef.system())

    def tenant_engine(self, tenant_id: str | None = None) -> Engine:
        return self._engine(self._tenant_ref(tenant_id))

    def system_path(self) -> Path:
        """Where the system database file lives in the sandbox (see ``tenant_path``)."""
        return self._sandbox.hand_over(DatabaseRef.system())

    def tenant_path(self, tenant_id: str) -> Path:
        """Where a tenant's database file lives in the sandbox. Asked before anyone opened
        it, the file is the test's to lay down (an old-schema database before the app
        migrates it, say): no template is cloned there."""
        return self._sandbox.hand_over(DatabaseRef.tenant(tenant_id))

    def add_tenant(self, tenant_id: str) -> Path:
        """Create a tenant's database from the template now (the app will find it ready)."""
        return self._sandbox.provide(DatabaseRef.tenant(tenant_id))

    @contextmanager
    def only(self, *tenant_ids: str) -> Iterator[None]:
        """Fail the test if code inside touches any tenant database but these.

        A refusal the code inside caught (an app turning it into a 500) is raised again at the
        end of the block. Every refusal is in the test's violation log too: once it leaves the
        block as a ``TenantIsolationError``, a test that expects it may catch it
        (``pytest.raises``); otherwise the test fails with it."""
        allowed = frozenset(validate_tenant_id(tenant_id) for tenant_id in tenant_ids)
        log = active_log()
        with self._sandbox.only(allowed) as scope:
            try:
                yield
            except TenantIsolationError as error:
                if log is not None:
                    log.carried_by(scope.violations, error)
                raise
        if scope.violations:
            caught = TenantIsolationError(render_all(scope.violations))
            if log is not None:
                log.carried_by(scope.violations, caught)
            raise caught

    @contextmanager
    def using(self, tenant_id: str) -> Iterator[None]:
        """Make ``tenant_id`` the default tenant inside the block."""
        self._default_tenants.append(validate_tenant_id(tenant_id))
        try:
            yield
        finally:
            self._default_tenants.pop()

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        for engine in self._engines.values():
            engine.dispose()

    def _from_snapshot(
        self, ref: DatabaseRef, snapshot: str | os.PathLike[str] | None
    ) -> DatabaseRef:
        if snapshot is None:
            return ref
        __tracebackhide__ = hide_snapshot_errors

        if self._open_snapshot is None:
            raise SnapshotError("snapshots need a configured tenant_topology")
        if self._sandbox.is_provided(ref):
            raise SnapshotError(f"{ref} already exists in this test: pass snapshot= on first use")
        path = self._sandbox.hand_over(ref)
        self._open_snapshot(ref, snapshot, path)
        self._sandbox.provide(ref)  # records the tenant; the file is there, nothing is cloned
        return ref

    def _tenant_ref(self, tenant_id: str | None) -> DatabaseRef:
        return DatabaseRef.tenant(self.default_tenant if tenant_id is None else tenant_id)

    def _engine(self, ref: DatabaseRef) -> Engine:
        if ref not in self._engines:
            # URL.create: no id or path character is ever parsed as URL syntax.
            url = URL.create("sqlite", database=str(self._sandbox.provide(ref)))
            self._engines[ref] = create_engine(url)
        return self._engines[ref]

    def _session(self, ref: DatabaseRef) -> Session:
        if ref not in self._sessions:
            self._sessions[ref] = Session(self._engine(ref))
        return self._sessions[ref]
