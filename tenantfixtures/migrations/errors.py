"""Errors of the migration checks, kept free of Alembic so that importing them costs nothing."""

import re
from typing import Any

from tenantfixtures.errors import TenantFixturesError

INSTALL_HINT = "pip install tenantfixtures[migrations]"
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")


class SnapshotError(TenantFixturesError):
    """A snapshot could not be turned into a database: unreadable SQL (with file and line), a
    file that is not a database, an Alembic config that cannot be loaded, an unknown revision."""


def error_text(exc: BaseException) -> str:
    """``Type: message``, without SQLAlchemy's link to its error catalogue."""
    return f"{type(exc).__name__}: {_BACKGROUND.sub('', str(exc)).strip()}"


def hide_snapshot_errors(excinfo: Any) -> bool:
    """For ``__tracebackhide__``: a SnapshotError's message names the file and line, so our
    frames on its way add nothing; any other error keeps them."""
    return bool(excinfo.errisinstance(SnapshotError))


class SchemaMismatchError(TenantFixturesError, AssertionError):
    """A database's schema differs from the models; ``differences`` lists one line each."""

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


class MigrationsUnavailableError(TenantFixturesError, ImportError):
    """Alembic is needed (schema comparison, ``alembic:`` snapshots) but not installed."""


def require_alembic() -> None:
    """Fail with the install command instead of a bare ImportError deep in a check."""
    try:
        import alembic  # noqa: F401
    except ImportError:
        raise MigrationsUnavailableError(
            f"this needs Alembic, which is not installed: {INSTALL_HINT}"
        ) from None
