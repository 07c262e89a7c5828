"""Secrets never reach ``openrouter.calls``, failure messages or reprs.

Headers and JSON bodies are redacted field by field, free text by the shared
``tenantfixtures.redact`` patterns; both leave the same mark.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tenantfixtures.redact import MARK, redact_json
from tenantfixtures.redact import redact as text

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
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
    """A JSON value with secret fields (``api_key``, ``client_secret``, ``access_token``...)
    and ``sk-...`` tokens masked, recursively; keys are never renamed."""
    return redact_json(value)
