"""Helpers for the flaky-detector tests: read what a history store holds."""

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tenantfixtures.flaky.store import Store, attempts, runs


def stored(db: Path, table: sa.Table = attempts) -> list[dict[str, Any]]:
    store = Store(str(db))
    try:
        with store.connect() as conn:
            order = table.c.id if "id" in table.c else table.c.started_at
            return [dict(row._mapping) for row in conn.execute(sa.select(table).order_by(order))]
    finally:
        store.close()


@pytest.fixture
def read_attempts() -> Any:
    return stored


@pytest.fixture
def read_runs() -> Any:
    return lambda db: stored(db, runs)
