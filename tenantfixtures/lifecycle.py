"""One test's isolation, in and out: its sandbox, its tenancy, its escape watch.

The plugin's autouse fixture is a single ``with isolated_test(...)``; the order of the steps
(and of their undoing, whatever fails) lives here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tenantfixtures.guards.escape import EscapeWatch, escape_guard
from tenantfixtures.sandbox.controller import SandboxController
from tenantfixtures.sandbox.layout import DatabaseRef, validate_tenant_id
from tenantfixtures.tenancy import SnapshotOpener, Tenancy, activate
from tenantfixtures.topology import Topology


@dataclass(frozen=True)
class IsolatedTest:
    tenancy: Tenancy
    watch: EscapeWatch | None  # None with --tf-guard=off


@contextmanager
def isolated_test(
    controller: SandboxController,
    topology: Topology,
    tenants: Sequence[str],
    guard_mode: str,
    allowed: Sequence[str],
    open_snapshot: SnapshotOpener | None = None,
) -> Iterator[IsolatedTest]:
    """The test owns the whole data dir inside the block; ``tenants`` are created first.
    ``topology`` must have been adopted by the controller."""
    refs = [DatabaseRef.tenant(tenant_id) for tenant_id in tenants]  # refused before any layer
    default = validate_tenant_id(tenants[0] if tenants else topology.default_tenant)
    sandbox = controller.begin_test()
    tenancy = Tenancy(sandbox, default, open_snapshot)
    activate(tenancy)
    guard = escape_guard() if guard_mode != "off" else None
    try:
        watch = None
        if guard is not None:
            watch = guard.begin(sandbox.root, sandbox.layout.data_dir, allowed, guard_mode)
            controller.refuse = watch.record
        for ref in refs:
            sandbox.provide(ref)
        yield IsolatedTest(tenancy, watch)
    finally:
        controller.refuse = None
        if guard is not None:
            guard.end()
        activate(None)
        tenancy.close()
        controller.end_test(sandbox)


def allowed_paths(
    controller: SandboxController, pytest_temp: Path, configured: Sequence[str]
) -> list[str]:
    """Our own directories and stores, pytest's temp dirs, and what the project allows."""
    passthrough = [str(path) for path in controller.router.passthrough]
    return [*passthrough, str(pytest_temp), *configured]
