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
from tenantfixtures.tenancy import QueryLog, Tenancy, Touched
from tenantfixtures.topology import Topology

__all__ = [
    "Call",
    "OpenRouterMock",
    "OpenRouterMockError",
    "QueryCountError",
    "QueryLog",
    "SandboxEscapeError",
    "Script",
    "ScriptError",
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
]

# Loading the package with ``pytest -p tenantfixtures`` registers the real plugin module.
pytest_plugins = ["tenantfixtures.plugin"]
