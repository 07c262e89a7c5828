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
from tenantfixtures.tenancy import Tenancy, Touched
from tenantfixtures.topology import Topology

__all__ = [
    "QueryCountError",
    "SandboxEscapeError",
    "TemplateBuildError",
    "Tenancy",
    "TenantFixturesError",
    "TenantIsolationError",
    "Topology",
    "Touched",
    "UnsafeDatabasePathError",
    "UnsafeTenantIdError",
]

# Loading the package with ``pytest -p tenantfixtures`` registers the real plugin module.
pytest_plugins = ["tenantfixtures.plugin"]
