"""tenantfixtures: pytest fixtures for multi-tenant SQLAlchemy backends.

The public names are imported on first use (PEP 562): the ``pytest11`` entry point loads the
plugin in every project of the environment, which must not pay for SQLAlchemy, httpx or respx
until a feature needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantfixtures.lazy import lazy_exports

if TYPE_CHECKING:
    from tenantfixtures.errors import (
        QueryCountError,
        SandboxEscapeError,
        TemplateBuildError,
        TenantFixturesError,
        TenantIsolationError,
        UnsafeDatabasePathError,
        UnsafeTenantIdError,
    )
    from tenantfixtures.llm import (
        Call,
        OpenRouterMock,
        OpenRouterMockError,
        Script,
        ScriptError,
        Step,
        VirtualClock,
        VirtualClockError,
    )
    from tenantfixtures.migrations import (
        MigrationsUnavailableError,
        SchemaMismatchError,
        SnapshotError,
        assert_schema_matches,
        schema_diff,
    )
    from tenantfixtures.tenancy import QueryLog, Tenancy, Touched
    from tenantfixtures.topology import Topology

__all__ = [
    "Call",
    "MigrationsUnavailableError",
    "OpenRouterMock",
    "OpenRouterMockError",
    "QueryCountError",
    "QueryLog",
    "SandboxEscapeError",
    "SchemaMismatchError",
    "Script",
    "ScriptError",
    "SnapshotError",
    "Step",
    "TemplateBuildError",
    "Tenancy",
    "TenantFixturesError",
    "TenantIsolationError",
    "Topology",
    "Touched",
    "UnsafeDatabasePathError",
    "UnsafeTenantIdError",
    "VirtualClock",
    "VirtualClockError",
    "assert_schema_matches",
    "schema_diff",
]

# Each public name and the module that defines it.
_MODULES = {
    **dict.fromkeys(
        (
            "QueryCountError",
            "SandboxEscapeError",
            "TemplateBuildError",
            "TenantFixturesError",
            "TenantIsolationError",
            "UnsafeDatabasePathError",
            "UnsafeTenantIdError",
        ),
        "tenantfixtures.errors",
    ),
    **dict.fromkeys(
        (
            "Call",
            "OpenRouterMock",
            "OpenRouterMockError",
            "Script",
            "ScriptError",
            "Step",
            "VirtualClock",
            "VirtualClockError",
        ),
        "tenantfixtures.llm",
    ),
    **dict.fromkeys(
        (
            "MigrationsUnavailableError",
            "SchemaMismatchError",
            "SnapshotError",
            "assert_schema_matches",
            "schema_diff",
        ),
        "tenantfixtures.migrations",
    ),
    **dict.fromkeys(("QueryLog", "Tenancy", "Touched"), "tenantfixtures.tenancy"),
    "Topology": "tenantfixtures.topology",
}


__getattr__, __dir__ = lazy_exports(__name__, _MODULES, __all__)

# Loading the package with ``pytest -p tenantfixtures`` registers the real plugin module.
pytest_plugins = ["tenantfixtures.plugin"]
