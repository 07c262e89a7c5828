"""Helpers for the flaky-detector tests: read what a history store holds, check JSON reports."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tenantfixtures.flaky.schema import REPORT_SCHEMA
from tenantfixtures.flaky.store import Store, attempts, runs

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_errors(schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """The JSON Schema keywords the report schema uses, checked (no dependency needed)."""
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(value, _TYPES[name])
            and not (name in ("integer", "number") and value is True)
            and not (name in ("integer", "number") and value is False)
            for name in names
        )
        if not ok:
            return [*errors, f"{where}: {value!r} is not {names}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing {key!r}")
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(properties[key], item, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected key {key!r}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1e9):
            errors.append(f"{where}: {len(value)} items")
        for index, item in enumerate(value):
            errors += schema_errors(schema.get("items", {}), item, f"{where}[{index}]")
    return errors


def assert_valid_report(data: dict[str, Any]) -> None:
    errors = schema_errors(REPORT_SCHEMA, data)
    assert not errors, "\n".join(errors[:20])


def stored(db: Path, table: sa.Table = attempts) -> list[dict[str, Any]]:
    store = Store(str(db))
    try:
        with store.connect() as conn:
            order = table.c.id if "id" in table.c else table.c.started_at
            return [dict(row._mapping) for row in conn.execute(sa.select(table).order_by(order))]
    finally:
        store.close()


@pytest.fixture
def valid_report() -> Any:
    """Parse a JSON report and check it against the documented schema."""

    def check(text: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(text)
        assert_valid_report(data)
        return data

    return check


@pytest.fixture
def read_attempts() -> Any:
    return stored


@pytest.fixture
def read_runs() -> Any:
    return lambda db: stored(db, runs)
