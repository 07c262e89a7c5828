"""The ``openrouter`` fixture's mock: scripts per model, recorded calls, the in-flight gauge."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any, NoReturn

import httpx
import respx

from tenantfixtures.guards.violations import GuardKind, record
from tenantfixtures.llm import payloads, redact, sse, steps
from tenantfixtures.llm.clock import running_clock
from tenantfixtures.llm.errors import OpenRouterMockError
from tenantfixtures.llm.payloads import DEFAULT_BASE_URL
from tenantfixtures.llm.steps import Step
from tenantfixtures.llm.transport import Body, Exchange, Flavour, Router, flavours


@dataclass(frozen=True)
class Call:
    """One request as the mock saw it, secrets redacted."""

    number: int
    method: str
    url: str
    headers: dict[str, str]
    json: Any
    model: str | None
    stream: bool
    step: str
    at: float | None  # virtual_clock.now(), else loop.time(), on arrival; None if sync

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent."""
        return list(self.json.get("messages", [])) if isinstance(self.json, dict) else []


@dataclass
class Script:
    """Steps consumed one per request, in order."""

    label: str
    steps: list[Step] = field(default_factory=list)
    used: int = 0

    def script(self, *steps_: object) -> Script:
        """Append steps; returns self so scripts can be built fluently."""
        self.steps.extend(steps.check_script(steps_))
        return self

    @property
    def left(self) -> int:
        return len(self.steps) - self.used

    def unused(self) -> list[str]:
        """The steps no request consumed, numbered as in the script."""
        return [f"#{n} {step}" for n, step in enumerate(self.steps, 1) if n > self.used]

    def describe(self) -> str:
        return f"{self.label}: {self.left} of {len(self.steps)} steps left"


class OpenRouterMock:
    """OpenRouter's chat completions API, in process: scripted answers, nothing on the network.

    Scripted steps left unused fail the test at teardown, as respx's ``assert_all_called`` does:
    a script longer than the code's retries hides a missing retry. Opt out per test with
    ``openrouter.assert_all_called = False`` or ``@pytest.mark.openrouter(assert_all_called=False)``
    (on a module through ``pytestmark``). ``default_reply`` is never counted as unused.
    """

    reply = staticmethod(steps.reply)
    rate_limited = staticmethod(steps.rate_limited)
    server_error = staticmethod(steps.server_error)
    error = staticmethod(steps.error)
    timeout = staticmethod(steps.timeout)
    connection_error = staticmethod(steps.connection_error)
    stream = staticmethod(steps.stream)

    def __init__(self, base_url: str = DEFAULT_BASE_URL) -> None:
        self.base_url = base_url.rstrip("/")
        self.calls: list[Call] = []
        self.failures: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.assert_all_called = True
        self._default = Script("default script")
        self._models: dict[str, Script] = {}
        self._default_reply: Step | None = None
        self._generations = count(1)
        self.route = respx.Route(method="POST", url=f"{self.base_url}/chat/completions")
        self._routers = [Router(flavour, self._handle, self.route) for flavour in flavours()]

    def __repr__(self) -> str:
        return f"<OpenRouterMock {self.base_url} calls={len(self.calls)}>"

    def __getattr__(self, name: str) -> NoReturn:
        steps_ = ", ".join(steps.FACTORIES)
        raise AttributeError(f"openrouter has no step or attribute {name!r}; steps: {steps_}")

    # -- scripting -------------------------------------------------------------------------

    def script(self, *steps_: object) -> Script:
        """Steps for every model without a script of its own."""
        return self._default.script(*steps_)

    def model(self, name: str) -> Script:
        """The script of one model (``openrouter.model("openai/gpt-4o").script(...)``)."""
        return self._models.setdefault(name, Script(f"model {name!r}"))

    def default_reply(self, answer: str | Step) -> None:
        """Answer every unscripted request with this (a text or any step), indefinitely."""
        (self._default_reply,) = steps.check_script(
            (steps.reply(answer) if isinstance(answer, str) else answer,)
        )

    # -- observation -----------------------------------------------------------------------

    def calls_for(self, model: str) -> list[Call]:
        """The calls that asked for ``model``."""
        return [call for call in self.calls if call.model == model]

    def assert_sent(self, **fields: Any) -> Call:
        """The first call whose JSON body has all ``fields`` (e.g. ``model=..., stream=True``)."""
        for call in self.calls:
            body = call.json if isinstance(call.json, dict) else {}
            if all(key in body and body[key] == value for key, value in fields.items()):
                return call
        sent = "\n".join(f"  #{c.number} {c.model} {json.dumps(c.json)[:200]}" for c in self.calls)
        raise OpenRouterMockError(
            f"no call sent {redact.payload(fields)!r}; calls:\n{sent or '  (none)'}"
        )

    def unused(self) -> str:
        """What the scripts hold that no request used, as the failure message; "" if nothing."""
        scripts = [self._default, *self._models.values()]
        lines = [
            f"  {script.label}: {', '.join(script.unused())}" for script in scripts if script.left
        ]
        if not lines:
            return ""
        count_ = sum(script.left for script in scripts)
        return "\n".join(
            [
                f"openrouter: {count_} scripted step(s) never used ({self._route_label()}):",
                *lines,
                "Remove them if the code is right to stop early, or opt out with"
                " openrouter.assert_all_called = False or"
                " @pytest.mark.openrouter(assert_all_called=False).",
            ]
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        for router in self._routers:
            router.start()

    def stop(self) -> None:
        for router in self._routers:
            router.stop(quiet=True)

    # -- answering -------------------------------------------------------------------------

    async def _handle(
        self, request: httpx.Request, flavour: Flavour, is_async: bool
    ) -> httpx.Response:
        body = _json(request)
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) else None
        wants_stream = isinstance(body, dict) and body.get("stream") is True
        clock = running_clock() if is_async else None
        matched = bool(self.route.pattern.match(request))
        step = self._next_step(request, model) if matched and isinstance(body, dict) else None
        self.calls.append(
            Call(
                number=len(self.calls) + 1,
                method=request.method,
                url=redact.text(str(request.url)),
                headers=redact.headers(request.headers.multi_items()),
                json=redact.payload(body),
                model=model,
                stream=wants_stream,
                step=str(step) if step else ("invalid JSON" if matched else "unmatched"),
                at=(clock.now() if clock else asyncio.get_running_loop().time())
                if is_async
                else None,
            )
        )
        if not matched:
            self._fail(self._unmatched(request))
        if step is None:  # OpenRouter rejects bodies that are not a JSON object
            return self._error_response(steps.error(400, message="Invalid JSON body"), None)
        if isinstance(step, steps.Stream) and not wants_stream:
            self._fail(
                f"{step} answered call #{len(self.calls)}, which did not ask for"
                ' "stream": true; script reply(...) for it instead'
            )
        timeouts = request.extensions.get("timeout", {})
        exchange = self._begin(flavour, timeouts.get("read"))
        try:
            latency = step.latency
            if latency is None:  # the client's read timeout, when waiting it costs no real time
                latency = (exchange.read_timeout or 0.0) if clock else 0.0
            if is_async:
                await exchange.wait(latency)
            else:
                exchange.wait_sync(latency)
            return self._respond(step, exchange, model or "openrouter/auto", body, wants_stream)
        except BaseException:
            exchange.finish()
            raise

    def _next_step(self, request: httpx.Request, model: str | None) -> Step:
        script = self._models.get(model or "") or (self._default if self._default.steps else None)
        if script is None:
            if self._default_reply is not None:
                return self._default_reply
            self._fail(
                f"nothing scripted for model {model!r} (call #{len(self.calls) + 1}"
                f" to {self._route_label()}); use openrouter.script(...),"
                f" openrouter.model({model!r}).script(...) or openrouter.default_reply(...)"
            )
        if script.left == 0:
            done = ", ".join(map(str, script.steps))
            self._fail(
                f"script exhausted: {self._route_label()} {script.label},"
                f" call #{script.used + 1} to it, but it has {len(script.steps)} steps ({done})"
            )
        script.used += 1
        return script.steps[script.used - 1]

    def _begin(self, flavour: Flavour, read_timeout: float | None) -> Exchange:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return Exchange(flavour, read_timeout, self._end)

    def _end(self) -> None:
        self.in_flight -= 1

    def _respond(
        self, step: Step, exchange: Exchange, model: str, body: dict[str, Any], wants_stream: bool
    ) -> httpx.Response:
        if isinstance(step, steps.Timeout):
            raise exchange.flavour.read_timeout("timed out")
        if isinstance(step, steps.ConnectionFailure):
            raise exchange.flavour.connect_error("[Errno 111] Connection refused")
        if isinstance(step, steps.Failure):
            return self._error_response(step, exchange)
        generation_id = f"gen-{int(time.time())}-{next(self._generations):06d}"
        headers = {"X-Generation-Id": generation_id}
        prompt = sum(payloads.count_tokens(str(m.get("content", ""))) for m in _messages(body))
        if isinstance(step, steps.Reply) and not wants_stream:
            answer = payloads.completion(
                generation_id=generation_id,
                created=int(time.time()),
                model=step.model or model,
                text=step.text,
                finish_reason=step.finish_reason,
                usage=step.usage or payloads.usage(prompt, payloads.count_tokens(step.text)),
            )
            return _response(
                200, headers, [(0.0, payloads.dumps(answer))], exchange, "application/json"
            )
        stream = step if isinstance(step, steps.Stream) else _as_stream(step)
        text = "".join(stream.chunks)
        events = sse.events(
            stream.chunks,
            generation_id=generation_id,
            created=int(time.time()),
            model=model,
            keepalives=stream.keepalives,
            interval=stream.interval,
            usage=stream.usage or payloads.usage(prompt, payloads.count_tokens(text)),
            error=stream.error,
            error_code=stream.error_code,
            complete=not stream.drop,
        )
        headers["Cache-Control"] = "no-cache"
        return _response(200, headers, events, exchange, "text/event-stream", stream.drop)

    def _error_response(self, step: steps.Failure, exchange: Exchange | None) -> httpx.Response:
        headers: dict[str, str] = {}
        if step.retry_after is not None:
            headers["Retry-After"] = f"{step.retry_after:g}"
        if step.status == 429:
            reset_ms = int((time.time() + (step.retry_after or 60)) * 1000)
            headers.update(payloads.rate_limit_headers(reset_ms))
        content = payloads.dumps(payloads.error_body(step.status, step.message, step.metadata))
        if exchange is None:
            return httpx.Response(step.status, headers=headers, content=content)
        return _response(step.status, headers, [(0.0, content)], exchange, "application/json")

    def _route_label(self) -> str:
        return f"POST {self.base_url}/chat/completions"

    def _unmatched(self, request: httpx.Request) -> str:
        scripts = [self._default, *self._models.values()]
        lines = [f"    {script.describe()}" for script in scripts if script.steps]
        if self._default_reply is not None:
            lines.append(f"    default reply: {self._default_reply}")
        return "\n".join(
            [
                f"no route matches {request.method} {redact.text(str(request.url))}"
                f" (call #{len(self.calls)}); tests never reach the network. Routes:",
                f"  {self._route_label()}",
                *(lines or ["    (nothing scripted)"]),
                "Point the client at the base URL above, or change it with the"
                " tenantfixtures_openrouter_base_url ini option or"
                " @pytest.mark.openrouter(base_url=...).",
            ]
        )

    def _fail(self, message: str) -> NoReturn:
        """Refuse the request; the test's violation log fails the test even if the app caught
        the error (and retried, or fell back to a default answer)."""
        violation = record(GuardKind.OPENROUTER, message)
        self.failures.append(violation.render())
        raise OpenRouterMockError(violation.render())


def _json(request: httpx.Request) -> Any:
    try:
        return json.loads(request.content or b"null")
    except ValueError:
        return None


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, Mapping)] if isinstance(messages, list) else []


def _as_stream(step: Step) -> steps.Stream:
    """A reply to a streaming request: OpenRouter streams the same text as word deltas."""
    assert isinstance(step, steps.Reply)
    return steps.Stream(step.latency, sse.split(step.text), usage=step.usage)


def _response(
    status: int,
    headers: dict[str, str],
    parts: list[tuple[float, bytes]],
    exchange: Exchange,
    content_type: str,
    drop: bool = False,
) -> httpx.Response:
    headers = {"Content-Type": content_type, **headers}
    body = Body(parts, exchange, drop=drop)
    return httpx.Response(status, headers=headers, stream=body)
