"""tenantfixtures: pytest fixtures for multi-tenant SQLAlchemy backends."""

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

# Loading the package with ``pytest -p tenantfixtures`` registers the real plugin module.
pytest_plugins = ["tenantfixtures.plugin"]
