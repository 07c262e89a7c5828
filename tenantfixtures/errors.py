"""Exception types users may catch or see in failures."""


class TenantFixturesError(Exception):
    """Base class of the errors tenantfixtures raises on purpose."""


class UnsafeTenantIdError(TenantFixturesError, ValueError):
    """A tenant id that could escape its directory (``../x``, ``a/b``, empty, absolute, NUL)."""


class UnsafeDatabasePathError(TenantFixturesError, ValueError):
    """A database path under the data dir that climbs out of it with ``..``."""


class TemplateBuildError(TenantFixturesError):
    """Building a schema template failed; the underlying error is chained."""


class TenantIsolationError(TenantFixturesError, AssertionError):
    """Code touched a tenant database it was not allowed to inside ``tenancy.only(...)``."""


class QueryCountError(TenantFixturesError, AssertionError):
    """A block ran more (or other than exactly the) statements than ``assert_queries`` allowed."""


class SandboxEscapeError(TenantFixturesError, AssertionError):
    """A test opened a database outside its sandbox, or wrote under the app's real data dir."""
