"""The JSON report's schema (``tenantfixtures.flaky/1``), as JSON Schema (draft 2020-12).

Version 1 grows only by new optional fields: every field a consumer read before keeps its name,
type and meaning. ``tenantfixtures report --schema`` prints this document.
"""

from typing import Any

from tenantfixtures.flaky.models import Classification

SCHEMA_ID = "tenantfixtures.flaky/1"

# The fields of the original contract: present in every test entry, forever.
CONTRACT_FIELDS = (
    "nodeid",
    "classification",
    "attempts",
    "failures",
    "failure_rate",
    "culprits",
    "evidence",
)
_RATE = {"type": "number", "minimum": 0, "maximum": 1}
_COUNT = {"type": "integer", "minimum": 0}
_TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
_TEXT_OR_NULL = {"type": ["string", "null"]}

_TEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(CONTRACT_FIELDS),
    "properties": {
        "nodeid": {"type": "string"},
        "classification": {"enum": [c.value for c in Classification]},
        "attempts": _COUNT,
        "failures": _COUNT,
        "failure_rate": _RATE,
        "culprits": {"type": "array", "items": {"type": "string"}},
        "evidence": {"type": "string"},
        "failure_rate_ci95": {"type": "array", "items": _RATE, "minItems": 2, "maxItems": 2},
        "first_attempt_failure_rate": _RATE,
        "final_failure_rate": _RATE,
        "flip_rate": _RATE,
        "last_seen": _TIME,
        "crashes": _COUNT,
        "p_value": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "confirmed": {"type": "boolean"},
        "quarantine": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["owner", "reason", "expires"],
            "properties": {
                "owner": {"type": "string"},
                "reason": {"type": "string"},
                "expires": {"type": "string"},
            },
        },
        "last_failure": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["message", "commit", "run_id", "at", "replay"],
            "properties": {
                "message": {"type": "string"},
                "commit": _TEXT_OR_NULL,
                "run_id": {"type": "string"},
                "at": _TIME,
                "replay": {"type": "string"},
            },
        },
    },
}

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "tenantfixtures flaky-test report",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "generated_at", "runs", "tests"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "generated_at": _TIME,
        "runs": _COUNT,
        "tests": {"type": "array", "items": _TEST},
        "release_suggested": {"type": "array", "items": {"type": "string"}},
        "counts": {
            "type": "object",
            "additionalProperties": False,
            "required": [c.value for c in Classification],
            "properties": {c.value: _COUNT for c in Classification},
        },
        "trend": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["day", "runs", "attempts", "failures", "failing_tests"],
                "properties": {
                    "day": {"type": "string"},
                    "runs": _COUNT,
                    "attempts": _COUNT,
                    "failures": _COUNT,
                    "failing_tests": _COUNT,
                },
            },
        },
        "budget_exhausted": {"type": "boolean"},
    },
}
