"""The wire side of the mock: respx routers for httpx and httpx2, bodies, latency, in-flight.

respx patches httpcore's connection pools (and, through pytest-httpx2's mocker, httpcore2's, which
the ``openai`` SDK uses). Failures are raised as the transport's own httpcore exceptions so each
client maps them to its own ``ReadTimeout``/``ConnectError``, exactly as on a real network.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
import respx
from respx.models import AllMockedAssertionError

from tenantfixtures.llm.clock import pause

if TYPE_CHECKING:
    Handler = Callable[[httpx.Request, "Flavour", bool], Coroutine[Any, Any, httpx.Response]]


@dataclass(frozen=True)
class Flavour:
    """One HTTP stack (httpx or httpx2): which respx mocker patches it, which errors it maps."""

    name: str
    using: str
    read_timeout: type[Exception]
    connect_error: type[Exception]
    remote_protocol_error: type[Exception]


def flavours() -> list[Flavour]:
    """httpx always; httpx2 when installed (importing pytest_httpx2 registers its mocker)."""
    found = [
        Flavour(
            "httpx",
            "httpcore",
            httpcore.ReadTimeout,
            httpcore.ConnectError,
            httpcore.RemoteProtocolError,
        )
    ]
    try:
        import httpcore2
        import pytest_httpx2._plugin  # noqa: F401  (registers the "httpcore2" respx mocker)
    except ImportError:
        return found
    found.append(
        Flavour(
            "httpx2",
            "httpcore2",
            httpcore2.ReadTimeout,
            httpcore2.ConnectError,
            httpcore2.RemoteProtocolError,
        )
    )
    return found


class Exchange:
    """One request in flight: it counts until its response body is closed or it fails."""

    def __init__(
        self, flavour: Flavour, read_timeout: float | None, on_done: Callable[[], None]
    ) -> None:
        self.flavour = flavour
        self.read_timeout = read_timeout
        self._on_done: Callable[[], None] | None = on_done

    def finish(self) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done()

    def _bounded(self, seconds: float) -> tuple[float, bool]:
        """How long to wait, and whether the client's read timeout fires first."""
        if self.read_timeout is not None and seconds > self.read_timeout:
            return self.read_timeout, True
        return seconds, False

    async def wait(self, seconds: float) -> None:
        """Latency in loop time (virtual under ``virtual_clock``); a read timeout if too long."""
        seconds, times_out = self._bounded(seconds)
        await pause(seconds)
        if times_out:
            raise self.flavour.read_timeout("timed out")

    def wait_sync(self, seconds: float) -> None:
        """Latency for synchronous clients: real time, as no event loop can make it virtual."""
        seconds, times_out = self._bounded(seconds)
        if seconds > 0:
            time.sleep(seconds)
        if times_out:
            raise self.flavour.read_timeout("timed out")


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent as (delay, part) pairs; ``drop`` cuts the connection after the last
    part. Closing it ends the exchange."""

    def __init__(
        self, parts: list[tuple[float, bytes]], exchange: Exchange, *, drop: bool = False
    ) -> None:
        self._parts = parts
        self._exchange = exchange
        self._drop = drop

    def _dropped(self) -> Exception:
        return self._exchange.flavour.remote_protocol_error(
            "peer closed connection without sending complete message body (incomplete chunked read)"
        )

    def __iter__(self) -> Iterator[bytes]:
        for delay, part in self._parts:
            self._exchange.wait_sync(delay)
            yield part
        if self._drop:
            raise self._dropped()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for delay, part in self._parts:
            await self._exchange.wait(delay)
            yield part
        if self._drop:
            raise self._dropped()

    def close(self) -> None:
        self._exchange.finish()

    async def aclose(self) -> None:
        self._exchange.finish()


class Router(respx.MockRouter):
    """A respx router that hands every request to the mock, telling it sync or async.

    It keeps no respx call log: requests carry the raw Authorization header, and the mock keeps
    its own redacted ``calls``. A request outside ``route`` goes first to the routers started
    after this one on the same mocker (a test's ``respx_mock``), which respx would otherwise never
    ask since this router answers everything; only if none of them matches does the mock fail it.
    """

    def __init__(self, flavour: Flavour, handler: Handler, route: respx.Route) -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True, using=flavour.using)
        self._flavour = flavour
        self._handler = handler
        self._route = route

    def _later_routers(self, request: httpx.Request) -> list[respx.Router]:
        if self.Mocker is None or self._route.pattern.match(request):
            return []
        routers: list[respx.Router] = self.Mocker.routers
        return routers[routers.index(self) + 1 :] if self in routers else []

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        for router in self._later_routers(request):
            with contextlib.suppress(AllMockedAssertionError):
                response: httpx.Response = await router.async_handler(request)
                return response
        return await self._handler(request, self._flavour, True)

    def handler(self, request: httpx.Request) -> httpx.Response:
        for router in self._later_routers(request):
            with contextlib.suppress(AllMockedAssertionError):
                answer: httpx.Response = router.handler(request)
                return answer
        coroutine = self._handler(request, self._flavour, False)
        try:  # the synchronous path never awaits anything real: drive it by hand
            coroutine.send(None)
        except StopIteration as done:
            response: httpx.Response = done.value
        else:  # pragma: no cover - a bug of ours, not of the test
            coroutine.close()
            raise RuntimeError("the mock awaited on a synchronous request")
        return response
