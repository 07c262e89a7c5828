"""The app's OpenRouter client: exponential backoff on 429/5xx/timeouts, a global concurrency cap.

Retry-After is deliberately not honoured: every retry waits ``2**attempt`` seconds (1, 2, 4, 8),
whatever the server asks. Streams are never retried, since content may already have been shown.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx

OPENROUTER_URL = "https://openrouter.ai/api/v1/chat/completions"
MAX_CONCURRENT_REQUESTS = 4
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


class OpenRouterError(Exception):
    """No answer: retries are exhausted, or OpenRouter refused the request for good."""


def _semaphore() -> asyncio.Semaphore:
    """The global cap, one per event loop: an asyncio.Semaphore binds to the first loop using it."""
    loop = asyncio.get_running_loop()
    semaphore = _semaphores.get(loop)
    if semaphore is None:
        semaphore = _semaphores[loop] = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)
    return semaphore


def _headers() -> dict[str, str]:
    key = os.environ.get("OPENROUTER_API_KEY")
    if not key:
        raise OpenRouterError("OPENROUTER_API_KEY is not set")
    return {
        "Authorization": f"Bearer {key}",
        "HTTP-Referer": "https://council.example",
        "X-Title": "Council",
    }


def _describe(response: httpx.Response) -> str:
    """'<status> <OpenRouter's error message>', tolerant of non-JSON bodies from proxies."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.reason_phrase
    return f"{response.status_code} {message}"


def _answer(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """Our shape of a completion; a 200 can still carry an error (a provider failed mid-way)."""
    if "error" in body:
        raise OpenRouterError(f"{model}: {body['error'].get('message', 'provider error')}")
    choice = body["choices"][0]
    if choice.get("finish_reason") == "error":
        raise OpenRouterError(f"{model}: the provider failed during generation")
    return {
        "model": body.get("model", model),
        "content": choice["message"]["content"] or "",
        "usage": body.get("usage", {}),
    }


async def query_model(
    model: str, messages: list[dict[str, str]], *, timeout: float = 30.0, max_retries: int = 4
) -> dict[str, Any]:
    """One completion; returns {"model", "content", "usage"} or raises OpenRouterError."""
    payload = {"model": model, "messages": messages}
    failure = "no attempt"
    async with httpx.AsyncClient(timeout=timeout) as client:
        for attempt in range(max_retries + 1):
            try:
                async with _semaphore():  # held per attempt, not while backing off
                    response = await client.post(OPENROUTER_URL, json=payload, headers=_headers())
            except httpx.TransportError as exc:  # timeouts and dropped connections
                failure = type(exc).__name__
            else:
                if response.status_code == 200:
                    return _answer(model, response.json())
                if response.status_code not in RETRYABLE_STATUSES:
                    raise OpenRouterError(f"{model}: {_describe(response)}")
                failure = _describe(response)
            if attempt < max_retries:
                await asyncio.sleep(2**attempt)
    raise OpenRouterError(f"{model}: gave up after {max_retries + 1} attempts, last: {failure}")


async def stream_model(model: str, messages: list[dict[str, str]]) -> AsyncIterator[str]:
    """Yield content deltas as they arrive; a failed or cut stream raises OpenRouterError."""
    payload = {"model": model, "messages": messages, "stream": True}
    try:
        async with (
            _semaphore(),
            httpx.AsyncClient(timeout=30.0) as client,
            client.stream("POST", OPENROUTER_URL, json=payload, headers=_headers()) as response,
        ):
            if response.status_code != 200:
                await response.aread()
                raise OpenRouterError(f"{model}: {_describe(response)}")
            async for line in response.aiter_lines():
                if not line.startswith("data: "):  # blank separators, ": OPENROUTER PROCESSING"
                    continue
                data = line.removeprefix("data: ")
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    message = chunk["error"].get("message")
                    raise OpenRouterError(f"{model}: stream failed: {message}")
                for choice in chunk.get("choices", []):
                    if content := choice.get("delta", {}).get("content"):
                        yield content
    except httpx.TransportError as exc:
        raise OpenRouterError(f"{model}: stream interrupted ({type(exc).__name__})") from exc
    raise OpenRouterError(f"{model}: stream ended without [DONE]")
