"""OpenRouter's wire formats: completions, stream chunks, error bodies and headers.

Shapes follow OpenRouter's API reference (``overview``, ``errors-and-debugging``, ``limits``):
``provider`` is top-level although the OpenAPI schema omits it, errors carry
``metadata.error_type``, and ``X-RateLimit-*`` headers appear only on rate-limit errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

# status -> (OpenRouter's message, metadata.error_type or None)
ERRORS: Mapping[int, tuple[str, str | None]] = {
    400: ("Invalid request: 'messages' must be a non-empty array", "invalid_request"),
    401: ("No cookie auth credentials found", "authentication"),
    402: (
        "This request requires more credits. Add more using https://openrouter.ai/settings/credits",
        "payment_required",
    ),
    403: ("Your input was flagged by the moderation of the provider", "permission_denied"),
    408: ("Request timed out", None),
    429: ("Rate limit exceeded: free-models-per-min", "rate_limit_exceeded"),
    500: ("Internal Server Error", "server"),
    502: ("Provider returned error", "provider_unavailable"),
    503: (
        "No available model provider that meets your routing requirements",
        "provider_overloaded",
    ),
}
PROVIDERS: Mapping[str, str] = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "meta-llama": "DeepInfra",
    "mistralai": "Mistral",
    "deepseek": "DeepSeek",
}
RATE_LIMIT_PER_MINUTE = 20  # OpenRouter's free-model limit


def provider_for(model: str) -> str:
    """The upstream provider OpenRouter would name for ``model``."""
    return PROVIDERS.get(model.split("/", 1)[0], "OpenRouter")


def count_tokens(text: str) -> int:
    """A rough token count (words), enough for usage numbers that add up."""
    return len(text.split())


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The ``usage`` object, with OpenRouter's cost fields."""
    total = prompt_tokens + completion_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total,
        "cost": round(total * 1e-6, 9),
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def completion(
    *,
    generation_id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    usage: Mapping[str, Any],
) -> dict[str, Any]:
    """A non-streaming ``chat.completion``."""
    return {
        "id": generation_id,
        "provider": provider_for(model),
        "model": model,
        "object": "chat.completion",
        "created": created,
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": finish_reason,
                "native_finish_reason": finish_reason,
                "message": {"role": "assistant", "content": text, "refusal": None},
            }
        ],
        "usage": dict(usage),
    }


def chunk(
    *,
    generation_id: str,
    created: int,
    model: str,
    choices: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a stream (``extra``: ``usage`` or ``error``)."""
    return {
        "id": generation_id,
        "provider": provider_for(model),
        "model": model,
        "object": "chat.completion.chunk",
        "created": created,
        "choices": choices,
        **extra,
    }


def delta(content: str, *, role: bool = False, finish_reason: str | None = None) -> dict[str, Any]:
    """A ``choices[0]`` entry of a chunk."""
    body: dict[str, Any] = {"content": content}
    if role:
        body = {"role": "assistant", **body}
    return {
        "index": 0,
        "delta": body,
        "finish_reason": finish_reason,
        "native_finish_reason": finish_reason,
        "logprobs": None,
    }


def error_body(
    status: int, message: str | None = None, metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{"error": {"code", "message", "metadata"}}`` as OpenRouter sends it for ``status``."""
    default_message, error_type = ERRORS[status]
    meta = {"error_type": error_type} if error_type else {}
    meta.update(metadata or {})
    error: dict[str, Any] = {"code": status, "message": message or default_message}
    if meta:
        error["metadata"] = meta
    return {"error": error}


def rate_limit_headers(reset_at_ms: int) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers of OpenRouter's own 429s (never sent on success)."""
    return {
        "X-RateLimit-Limit": str(RATE_LIMIT_PER_MINUTE),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset_at_ms),
    }


def dumps(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON, as the API sends it."""
    return json.dumps(payload, separators=(",", ":")).encode()
