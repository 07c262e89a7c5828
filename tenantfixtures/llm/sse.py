"""Server-sent events exactly as OpenRouter streams them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tenantfixtures.llm import payloads

KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"


def event(data: Mapping[str, Any]) -> bytes:
    """One ``data:`` event."""
    return b"data: " + payloads.dumps(data) + b"\n\n"


def split(text: str) -> tuple[str, ...]:
    """A reply's text as the word-sized deltas a model streams."""
    return tuple(re.findall(r"\s*\S+\s*", text)) or ("",)


def events(
    chunks: tuple[str, ...],
    *,
    generation_id: str,
    created: int,
    model: str,
    keepalives: int,
    interval: float,
    usage: Mapping[str, Any],
    error: str | None = None,
    error_code: int | str = "server_error",
    complete: bool = True,
) -> list[tuple[float, bytes]]:
    """(delay, event) pairs: keepalives, deltas ``interval`` apart, then either the stop and
    usage chunks and ``[DONE]``, an error chunk (OpenRouter keeps status 200 mid-stream), or
    nothing more (``complete=False``: a dropped connection)."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return event(
            payloads.chunk(
                generation_id=generation_id, created=created, model=model, choices=choices, **extra
            )
        )

    body = [(0.0, KEEPALIVE)] * keepalives
    body += [
        (interval if i else 0.0, chunk([payloads.delta(text, role=i == 0)]))
        for i, text in enumerate(chunks)
    ]
    if error is not None:
        failure = {"code": error_code, "message": error, "metadata": {"error_type": "server"}}
        body.append((0.0, chunk([payloads.delta("", finish_reason="error")], error=failure)))
    elif complete:
        body.append((0.0, chunk([payloads.delta("", finish_reason="stop")])))
        body.append((0.0, chunk([], usage=dict(usage))))
        body.append((0.0, DONE))
    return body
