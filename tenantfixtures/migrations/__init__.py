"""Migration safety across the tenant fleet: old databases from snapshots, schema comparison
with the models, and the built-in checks (``tenantfixtures.migrations.plugin``).

Alembic is imported only by what needs it (``pip install tenantfixtures[migrations]``).
"""

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
