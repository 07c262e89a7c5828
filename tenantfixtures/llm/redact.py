"""Secrets never reach ``openrouter.calls``, failure messages or reprs.

Headers and JSON bodies are redacted field by field (exact), free text by the shared
``tenantfixtures.redact`` patterns; both leave the same mark.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tenantfixtures.redact import MARK
from tenantfixtures.redact import redact as text

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
SECRET_FIELDS = frozenset({"api_key", "apikey", "authorization", "password", "secret", "token"})

__all__ = ["MARK", "headers", "payload", "text"]


def headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased headers; credentials masked, keeping the scheme (``Bearer …REDACTED``)."""
    redacted: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        if key in SECRET_HEADERS:
            scheme, _, credentials = value.partition(" ")
            value = f"{scheme} {MARK}" if credentials and key.endswith("authorization") else MARK
        redacted[key] = text(value)
    return redacted


def payload(value: Any) -> Any:
    """A JSON value with secret fields and ``sk-...`` tokens masked, recursively."""
    if isinstance(value, dict):
        return {
            key: MARK if str(key).lower() in SECRET_FIELDS else payload(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [payload(item) for item in value]
    if isinstance(value, str):
        return text(value)
    return value
