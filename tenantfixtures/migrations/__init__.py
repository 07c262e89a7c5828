"""Migration safety across the tenant fleet: old databases from snapshots, schema comparison
with the models, and the built-in checks (``tenantfixtures.migrations.plugin``).

Alembic is imported only by what needs it (``pip install tenantfixtures[migrations]``), and
SQLAlchemy only when a name below is first used (PEP 562), so that loading the pytest plugin
costs nothing in projects without migration checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantfixtures.lazy import lazy_exports

if TYPE_CHECKING:
    from tenantfixtures.migrations.diff import assert_schema_matches, schema_diff
    from tenantfixtures.migrations.errors import (
        MigrationsUnavailableError,
        SchemaMismatchError,
        SnapshotError,
    )
    from tenantfixtures.migrations.snapshots import materialize, open_from_snapshot

__all__ = [
    "MigrationsUnavailableError",
    "SchemaMismatchError",
    "SnapshotError",
    "assert_schema_matches",
    "materialize",
    "open_from_snapshot",
    "schema_diff",
]

_MODULES = {
    "MigrationsUnavailableError": "tenantfixtures.migrations.errors",
    "SchemaMismatchError": "tenantfixtures.migrations.errors",
    "SnapshotError": "tenantfixtures.migrations.errors",
    "assert_schema_matches": "tenantfixtures.migrations.diff",
    "materialize": "tenantfixtures.migrations.snapshots",
    "open_from_snapshot": "tenantfixtures.migrations.snapshots",
    "schema_diff": "tenantfixtures.migrations.diff",
}


__getattr__, __dir__ = lazy_exports(__name__, _MODULES, __all__)
