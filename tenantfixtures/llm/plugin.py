"""pytest wiring for the OpenRouter mock and the virtual clock (fixtures live here)."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Generator, Iterator
from typing import Any

import httpx
import pytest

from tenantfixtures.llm.clock import VirtualClock
from tenantfixtures.llm.errors import VirtualClockError
from tenantfixtures.llm.openrouter import DEFAULT_BASE_URL, OpenRouterMock

BASE_URL_INI = "tenantfixtures_openrouter_base_url"
MOCK = pytest.StashKey[OpenRouterMock]()
CLOCK = pytest.StashKey[VirtualClock]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        BASE_URL_INI,
        "base URL the openrouter fixture intercepts (e.g. a self-hosted gateway)",
        default=DEFAULT_BASE_URL,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "openrouter(base_url=...): the base URL the openrouter fixture intercepts"
    )
    problem = _base_url_problem(str(config.getini(BASE_URL_INI)))
    if problem:
        raise pytest.UsageError(f"{BASE_URL_INI}: {problem}")


def _base_url_problem(base_url: str) -> str | None:
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        return f"{base_url!r} is not an http(s) URL; use e.g. {DEFAULT_BASE_URL!r}"
    return None


@pytest.fixture
def openrouter(request: pytest.FixtureRequest) -> Iterator[OpenRouterMock]:
    """OpenRouter's API mocked for httpx, httpx2 and the openai SDK; see OpenRouterMock."""
    base_url = str(request.config.getini(BASE_URL_INI))
    marker = request.node.get_closest_marker("openrouter")
    if marker is not None:
        unknown = set(marker.kwargs) - {"base_url"}
        if marker.args or unknown:
            pytest.fail("@pytest.mark.openrouter takes only base_url=...", pytrace=False)
        base_url = marker.kwargs.get("base_url", base_url)
        if problem := _base_url_problem(base_url):
            pytest.fail(f"@pytest.mark.openrouter: {problem}", pytrace=False)
    mock = OpenRouterMock(base_url)
    request.node.stash[MOCK] = mock
    mock.start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def virtual_clock(request: pytest.FixtureRequest) -> VirtualClock:
    """Virtual time for the test's event loop: sleeps and timeouts pass at once."""
    if not inspect.iscoroutinefunction(request.function):
        pytest.fail(
            f"virtual_clock needs an async test ({request.node.name} is synchronous): make it"
            " `async def` under pytest-asyncio or anyio",
            pytrace=False,
        )
    clock = VirtualClock()
    request.node.stash[CLOCK] = clock
    return clock


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run the test body on the virtual clock; fail it if the mock could not answer a request
    (the app may have swallowed the error, e.g. by retrying)."""
    clock = item.stash.get(CLOCK, None)
    original = item.obj if isinstance(item, pytest.Function) else None
    if clock is not None and isinstance(item, pytest.Function):
        item.obj = _on_virtual_time(item.obj, clock)
    outcome: BaseException | None = None
    try:
        result = yield
    except BaseException as exc:
        outcome = exc
    finally:
        if clock is not None and isinstance(item, pytest.Function):
            item.obj = original
    if failures := _failures(item):  # the root cause, whatever the app made of it
        pytest.fail(failures, pytrace=False)
    if outcome is not None:
        raise outcome
    return result


def _failures(item: pytest.Item) -> str:
    mock = item.stash.get(MOCK, None)
    if mock is None or not mock.failures:
        return ""
    more = len(mock.failures) - 1
    return mock.failures[0] + (f"\n(and {more} more failed requests)" if more else "")


def _on_virtual_time(test: Any, clock: VirtualClock) -> Any:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise VirtualClockError(
                "virtual_clock drives asyncio; this test runs on trio"
            ) from None
        clock.attach(loop)
        try:
            return await test(*args, **kwargs)
        finally:
            clock.detach()

    return run
