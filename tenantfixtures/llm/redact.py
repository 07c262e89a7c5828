"""Secrets never reach ``openrouter.calls``, failure messages or reprs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
SECRET_FIELDS = frozenset({"api_key", "apikey", "authorization", "password", "secret", "token"})
TOKEN = re.compile(r"\bsk-[A-Za-z0-9_\-]{4,}")  # sk-or-v1-..., sk-proj-..., sk-ant-...


def text(value: str) -> str:
    """``value`` with ``sk-...`` tokens masked."""
    return TOKEN.sub(REDACTED, value)


def headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased headers; credentials masked, keeping the scheme (``Bearer [REDACTED]``)."""
    redacted: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        if key in SECRET_HEADERS:
            scheme, _, credentials = value.partition(" ")
            value = (
                f"{scheme} {REDACTED}"
                if credentials and key.endswith("authorization")
                else REDACTED
            )
        redacted[key] = text(value)
    return redacted


def payload(value: Any) -> Any:
    """A JSON value with secret fields and ``sk-...`` tokens masked, recursively."""
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in SECRET_FIELDS else payload(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [payload(item) for item in value]
    if isinstance(value, str):
        return text(value)
    return value
