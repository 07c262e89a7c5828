"""pytest wiring for the OpenRouter mock and the virtual clock (fixtures live here).

Virtual time for a whole suite: the ``tenantfixtures_virtual_time`` ini option, or
``@pytest.mark.virtual_time`` on a module (``pytestmark``), class or test, gives every async test
the virtual clock without requesting ``virtual_clock``; ``@pytest.mark.virtual_time(False)`` opts
one out. Synchronous tests, and async tests on a loop the clock cannot drive (trio, uvloop), run
as they would without it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tenantfixtures.llm.errors import VirtualClockError
from tenantfixtures.llm.payloads import DEFAULT_BASE_URL

if TYPE_CHECKING:  # httpx and respx are imported once a test requests the openrouter fixture
    from tenantfixtures.llm.clock import VirtualClock
    from tenantfixtures.llm.openrouter import OpenRouterMock

BASE_URL_INI = "tenantfixtures_openrouter_base_url"
VIRTUAL_TIME_INI = "tenantfixtures_virtual_time"
VIRTUAL_TIME_DEFAULT = pytest.StashKey[bool]()
MARKER_OPTIONS = frozenset({"base_url", "assert_all_called"})
MOCK: pytest.StashKey[OpenRouterMock] = pytest.StashKey()
CLOCK: pytest.StashKey[VirtualClock] = pytest.StashKey()
REQUESTED = pytest.StashKey[bool]()  # the test asked for virtual_clock, so it must be virtual
CALL_FAILED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        BASE_URL_INI,
        "base URL the openrouter fixture intercepts, e.g. a self-hosted gateway"
        f" (default {DEFAULT_BASE_URL})",
        default=DEFAULT_BASE_URL,
    )
    parser.addini(
        VIRTUAL_TIME_INI,
        "run every async test on the virtual clock, as if it requested virtual_clock"
        " (default false)",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "openrouter(base_url=..., assert_all_called=True): the base URL the openrouter fixture"
        " intercepts; assert_all_called=False lets scripted steps go unused",
    )
    config.addinivalue_line(
        "markers",
        "virtual_time(enabled=True): run the async tests of this module, class or test on the"
        " virtual clock (virtual_time(False) opts one out)",
    )
    base_url = str(config.getini(BASE_URL_INI))
    if base_url != DEFAULT_BASE_URL and (problem := _base_url_problem(base_url)):
        raise pytest.UsageError(f"{BASE_URL_INI}: {problem}")
    try:
        config.stash[VIRTUAL_TIME_DEFAULT] = bool(config.getini(VIRTUAL_TIME_INI))
    except (ValueError, pytest.UsageError) as exc:
        raise pytest.UsageError(f"{VIRTUAL_TIME_INI}: {exc}; use true or false") from None


def _base_url_problem(base_url: str) -> str | None:
    import httpx  # only for a URL the project configured

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
    assert_all_called = True
    marker = request.node.get_closest_marker("openrouter")
    if marker is not None:
        if marker.args or set(marker.kwargs) - MARKER_OPTIONS:
            pytest.fail(
                "@pytest.mark.openrouter takes only base_url=... and assert_all_called=...",
                pytrace=False,
            )
        base_url = marker.kwargs.get("base_url", base_url)
        if problem := _base_url_problem(base_url):
            pytest.fail(f"@pytest.mark.openrouter: {problem}", pytrace=False)
        assert_all_called = marker.kwargs.get("assert_all_called", assert_all_called)
        if not isinstance(assert_all_called, bool):
            pytest.fail(
                "@pytest.mark.openrouter: assert_all_called is True or False", pytrace=False
            )
    from tenantfixtures.llm.openrouter import OpenRouterMock

    mock = OpenRouterMock(base_url)
    mock.assert_all_called = assert_all_called
    request.node.stash[MOCK] = mock
    mock.start()
    try:
        yield mock
    finally:
        mock.stop()
    # as respx_mock does: only a test that passed so far is failed for what it left unused
    call_failed = request.node.stash.get(CALL_FAILED, True)  # True: the body never ran
    if mock.assert_all_called and not mock.failures and not call_failed and mock.unused():
        pytest.fail(mock.unused(), pytrace=False)


@pytest.fixture
def virtual_clock(request: pytest.FixtureRequest) -> VirtualClock:
    """Virtual time for the test's event loop: sleeps and timeouts pass at once."""
    if not inspect.iscoroutinefunction(request.function):
        pytest.fail(
            f"virtual_clock needs an async test ({request.node.name} is synchronous): make it"
            " `async def` under pytest-asyncio or anyio",
            pytrace=False,
        )
    request.node.stash[REQUESTED] = True
    clock: VirtualClock | None = request.node.stash.get(CLOCK, None)  # from the ini or marker
    if clock is None:
        from tenantfixtures.llm.clock import VirtualClock

        clock = request.node.stash[CLOCK] = VirtualClock()
    return clock


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A fresh clock per attempt (reruns reuse the item), before any fixture asks for one."""
    item.stash[REQUESTED] = False
    if CALL_FAILED in item.stash:
        del item.stash[CALL_FAILED]
    if _virtual_time_wanted(item):
        from tenantfixtures.llm.clock import VirtualClock

        item.stash[CLOCK] = VirtualClock()
    elif CLOCK in item.stash:
        del item.stash[CLOCK]


def _virtual_time_wanted(item: pytest.Item) -> bool:
    if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
        return False
    marker = item.get_closest_marker("virtual_time")
    if marker is None:
        return item.config.stash.get(VIRTUAL_TIME_DEFAULT, False)
    return bool(marker.args[0]) if marker.args else bool(marker.kwargs.get("enabled", True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run the test body on the virtual clock. (A request the mock could not answer fails the
    test through the violation log, even if the app swallowed the error, e.g. by retrying.)"""
    clock = item.stash.get(CLOCK, None)
    original = item.obj if isinstance(item, pytest.Function) else None
    if clock is not None and isinstance(item, pytest.Function):
        item.obj = _on_virtual_time(item.obj, clock, required=item.stash.get(REQUESTED, False))
    outcome: BaseException | None = None
    try:
        result = yield
    except BaseException as exc:
        outcome = exc
    finally:
        if clock is not None and isinstance(item, pytest.Function):
            item.obj = original
    if MOCK in item.stash:  # the openrouter fixture's teardown asks whether the call failed
        from tenantfixtures.guards.violations import active_log

        log = active_log()  # the guards' wrapper, outside this one, fails the call for these
        item.stash[CALL_FAILED] = outcome is not None or bool(log is not None and log.failing())
    if outcome is not None:
        raise outcome
    return result


def _on_virtual_time(test: Any, clock: VirtualClock, *, required: bool) -> Any:
    """The test body run on ``clock``; where the clock cannot drive the loop, an error if the
    test asked for ``virtual_clock``, else real time (the suite-wide option is best effort)."""

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if not required:
                return await test(*args, **kwargs)
            raise VirtualClockError(
                "virtual_clock drives asyncio; this test runs on trio"
            ) from None
        if not required and not clock.can_drive(loop):
            return await test(*args, **kwargs)
        clock.attach(loop)
        try:
            return await test(*args, **kwargs)
        finally:
            clock.detach()

    return run
