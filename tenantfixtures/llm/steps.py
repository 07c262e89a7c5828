"""Script steps: what the mock answers to one request, validated when the test builds them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tenantfixtures.llm.errors import ScriptError
from tenantfixtures.llm.payloads import ERRORS

SERVER_ERRORS = (500, 502, 503)
RETRY_AFTER_STATUSES = (429, 503)  # the only statuses OpenRouter sends Retry-After with


@dataclass(frozen=True)
class Step:
    """One scripted answer; ``latency`` is virtual seconds before it arrives."""

    name: ClassVar[str] = "step"
    latency: float = 0.0

    def __str__(self) -> str:
        return f"{self.label()}({', '.join(self.arguments())})"

    def label(self) -> str:
        return self.name

    def arguments(self) -> list[str]:
        """The arguments that differ from the defaults, as the test would write them."""
        return [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.compare and getattr(self, f.name) != _default(f)
        ]


@dataclass(frozen=True)
class Reply(Step):
    """A 200 chat completion (streamed as SSE when the request asks for ``stream``)."""

    name: ClassVar[str] = "reply"
    text: str = ""
    finish_reason: str = "stop"
    model: str | None = None  # the model OpenRouter reports, e.g. after a fallback
    usage: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Failure(Step):
    """An HTTP error with OpenRouter's error body."""

    name: ClassVar[str] = "error"
    status: int = 500
    message: str | None = None
    metadata: Mapping[str, Any] | None = None
    retry_after: float | None = None

    def label(self) -> str:
        if self.status == 429:
            return "rate_limited"
        return "server_error" if self.status in SERVER_ERRORS else "error"

    def arguments(self) -> list[str]:
        others = [text for text in super().arguments() if not text.startswith("status=")]
        return others if self.status == 429 else [str(self.status), *others]


@dataclass(frozen=True)
class Timeout(Step):
    """The server never answers: the client's read timeout fires. With ``latency=None`` it fires
    after the client's own read timeout under virtual_clock, at once otherwise."""

    name: ClassVar[str] = "timeout"
    latency: float | None = None  # type: ignore[assignment]


@dataclass(frozen=True)
class ConnectionFailure(Step):
    """The connection cannot be opened (``httpx.ConnectError``)."""

    name: ClassVar[str] = "connection_error"


@dataclass(frozen=True)
class Stream(Step):
    """A 200 SSE stream: keepalive comments, deltas, usage, ``[DONE]`` or a mid-stream failure."""

    name: ClassVar[str] = "stream"
    chunks: tuple[str, ...] = ()
    interval: float = 0.0
    keepalives: int = 1
    error: str | None = None
    error_code: int | str = "server_error"
    drop: bool = False
    usage: Mapping[str, Any] | None = field(default=None, compare=False)


def _default(f: dataclasses.Field[Any]) -> Any:
    return f.default


def _seconds(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScriptError(f"{what} must be a number of seconds, got {value!r}")
    if value < 0:
        raise ScriptError(f"{what} must be >= 0 seconds, got {value!r}")
    return float(value)


def _retry_after(status: int, retry_after: float | None) -> float | None:
    if retry_after is None:
        return None
    if status not in RETRY_AFTER_STATUSES:
        raise ScriptError(
            f"retry_after is only sent with 429 and 503 by OpenRouter, not with {status}"
        )
    return _seconds("retry_after", retry_after)


def reply(
    text: str,
    *,
    latency: float = 0.0,
    finish_reason: str = "stop",
    model: str | None = None,
    usage: Mapping[str, Any] | None = None,
) -> Reply:
    """A 200 completion whose message content is ``text``."""
    if not isinstance(text, str):
        raise ScriptError(f"reply() takes the answer text as a str, got {text!r}")
    return Reply(_seconds("latency", latency), text, finish_reason, model, usage)


def error(
    status: int,
    *,
    message: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
    latency: float = 0.0,
) -> Failure:
    """An error response with OpenRouter's body for ``status``."""
    if status not in ERRORS:
        known = ", ".join(map(str, ERRORS))
        raise ScriptError(f"error() status must be one of {known}; got {status!r}")
    return Failure(
        _seconds("latency", latency), status, message, metadata, _retry_after(status, retry_after)
    )


def rate_limited(
    retry_after: float | None = None, *, message: str | None = None, latency: float = 0.0
) -> Failure:
    """A 429 with ``X-RateLimit-*`` headers, and ``Retry-After`` when ``retry_after`` is given."""
    return error(429, message=message, retry_after=retry_after, latency=latency)


def server_error(
    status: int = 502,
    *,
    message: str | None = None,
    retry_after: float | None = None,
    latency: float = 0.0,
) -> Failure:
    """A 500, 502 or 503 (503 may carry ``Retry-After``)."""
    if status not in SERVER_ERRORS:
        raise ScriptError(
            f"server_error() status must be 500, 502 or 503; got {status!r}"
            " (use error(status) for client errors)"
        )
    return error(status, message=message, retry_after=retry_after, latency=latency)


def timeout(*, latency: float | None = None) -> Timeout:
    """A read timeout after ``latency`` seconds (default: the client's timeout, if virtual)."""
    return Timeout(None if latency is None else _seconds("latency", latency))


def connection_error(*, latency: float = 0.0) -> ConnectionFailure:
    """A connection that cannot be opened."""
    return ConnectionFailure(_seconds("latency", latency))


def stream(
    chunks: Iterable[str],
    *,
    latency: float = 0.0,
    interval: float = 0.0,
    keepalives: int = 1,
    error: str | None = None,
    error_code: int | str = "server_error",
    drop: bool = False,
    usage: Mapping[str, Any] | None = None,
) -> Stream:
    """An SSE stream of ``chunks``; ``error`` ends it with an error chunk, ``drop`` cuts it."""
    texts = () if isinstance(chunks, str) else tuple(chunks)
    if not texts or not all(isinstance(text, str) for text in texts):
        raise ScriptError(
            f"stream() takes a non-empty list of text chunks, e.g. stream(['Hel', 'lo']);"
            f" got {chunks!r}"
        )
    if isinstance(keepalives, bool) or not isinstance(keepalives, int) or keepalives < 0:
        raise ScriptError(f"keepalives must be an int >= 0, got {keepalives!r}")
    if error is not None and drop:
        raise ScriptError("stream() can end with error=... or drop=True, not both")
    return Stream(
        _seconds("latency", latency),
        texts,
        _seconds("interval", interval),
        keepalives,
        error,
        error_code,
        drop,
        usage,
    )


FACTORIES = {
    "reply": reply,
    "rate_limited": rate_limited,
    "server_error": server_error,
    "error": error,
    "timeout": timeout,
    "connection_error": connection_error,
    "stream": stream,
}


def check_script(steps: tuple[object, ...]) -> tuple[Step, ...]:
    """The steps, or a ScriptError saying which one is wrong and how to write it."""
    if not steps:
        raise ScriptError("script() needs at least one step, e.g. script(openrouter.reply('hi'))")
    for number, step in enumerate(steps, start=1):
        if isinstance(step, Step):
            continue
        name = getattr(step, "__name__", None)
        if callable(step) and name in FACTORIES:
            hint = f"the function {name} was passed uncalled; call it: openrouter.{name}(...)"
        elif isinstance(step, str):
            hint = f"{step!r} is a str; wrap answers as openrouter.reply({step!r})"
        else:
            hint = f"{step!r} is not a step"
        raise ScriptError(
            f"script() step {number}: unknown step: {hint}. Steps: {', '.join(FACTORIES)}"
        )
    return tuple(step for step in steps if isinstance(step, Step))
