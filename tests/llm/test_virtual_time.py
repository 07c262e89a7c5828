"""Virtual time as a suite sees it: exact on any machine, and on for every async test at once."""

import textwrap

import pytest

from tests.llm.test_plugin import CLIENT

EXACT = """
import asyncio, time

import pytest
import pytest_asyncio
from client import query_model

UPTIME = {uptime}


@pytest.fixture(autouse=True)
def machine_uptime(monkeypatch):
    \"\"\"The loop's real clock is time.monotonic(): make it read an awkward value.\"\"\"
    if UPTIME is not None:
        real, start = time.monotonic, time.monotonic()
        monkeypatch.setattr(time, "monotonic", lambda: UPTIME + (real() - start))


@pytest.mark.asyncio
async def test_ladder_ends_exactly(virtual_clock):
    for delay in (1, 2, 30, 4):
        await asyncio.sleep(delay)
    assert virtual_clock.sleeps == [1, 2, 30, 4]
    assert virtual_clock.now() == 37
    assert asyncio.get_running_loop().time() == 37  # the loop's clock starts at 0 too


@pytest.mark.asyncio
async def test_calls_arrive_at_exact_times(openrouter, virtual_clock):
    openrouter.script(
        openrouter.rate_limited(retry_after=2),
        openrouter.server_error(502),
        openrouter.timeout(),  # the client's 30 s read timeout
        openrouter.reply("All good"),
    )
    assert (await query_model("m", []))["content"] == "All good"
    assert [call.at for call in openrouter.calls] == [0, 1, 3, 37]
    assert virtual_clock.now() == 37


@pytest_asyncio.fixture
async def early_timer():
    fired = []
    asyncio.get_running_loop().call_later(5, fired.append, "fired")
    return fired


@pytest.mark.asyncio
async def test_timers_set_before_the_body_keep_their_delay(early_timer, virtual_clock):
    \"\"\"A timer an async fixture set on the real clock fires after its delay, virtually.\"\"\"
    await asyncio.sleep(4)
    assert early_timer == []
    await asyncio.sleep(2)
    assert early_timer == ["fired"]
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(client=CLIENT)
    pytester.makeini("[pytest]\npythonpath = .\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("-p", "tenantfixtures", "-p", "no:randomly", *args)


@pytest.mark.parametrize("uptime", [None, 123.456789, 2030.7771, 4090.0])
def test_virtual_time_is_exact_for_any_machine_uptime(project, uptime):
    project.makepyfile(test_exact=EXACT.format(uptime=uptime))
    run(project).assert_outcomes(passed=3)


BACKOFF = """
import asyncio, time

import pytest
import tenacity


async def fetch_with_backoff():
    attempts = []

    @tenacity.retry(wait=tenacity.wait_fixed(4), stop=tenacity.stop_after_attempt(2))
    async def fetch():
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) == 1:
            raise ConnectionError("try again")
        return attempts

    started = time.perf_counter()
    attempts = await fetch()
    return attempts, time.perf_counter() - started


{marker}
{decorator}
async def test_retries_in_virtual_time():
    attempts, wall = await fetch_with_backoff()
    assert attempts == [0, 4]  # 4 s of tenacity backoff, in virtual time
    assert wall < 1


def test_sync_tests_are_left_alone():
    time.sleep(0.01)
"""
RUNNERS = [
    ("@pytest.mark.asyncio", ("-o", "asyncio_mode=strict")),
    ("", ("-o", "asyncio_mode=auto")),
    ("@pytest.mark.anyio", ("-o", "asyncio_mode=strict")),
]
ANYIO_BACKEND = "@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"


@pytest.mark.parametrize(("decorator", "args"), RUNNERS, ids=["strict", "auto", "anyio"])
def test_ini_option_puts_every_async_test_on_virtual_time(project, decorator, args):
    project.makepyfile(test_backoff=BACKOFF.format(marker=ANYIO_BACKEND, decorator=decorator))
    result = run(project, "-o", "tenantfixtures_virtual_time=true", *args)
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(("decorator", "args"), RUNNERS, ids=["strict", "auto", "anyio"])
def test_module_marker_puts_its_async_tests_on_virtual_time(project, decorator, args):
    marker = "pytestmark = pytest.mark.virtual_time\n" + ANYIO_BACKEND
    project.makepyfile(test_backoff=BACKOFF.format(marker=marker, decorator=decorator))
    run(project, *args).assert_outcomes(passed=2)


def test_class_marker_opt_out_and_real_time_without_either(project):
    project.makepyfile(
        test_scope=textwrap.dedent(
            """
            import asyncio
            import pytest

            @pytest.mark.virtual_time
            class TestVirtual:
                @pytest.mark.asyncio
                async def test_virtual(self):
                    await asyncio.sleep(3)
                    assert asyncio.get_running_loop().time() == 3

                @pytest.mark.virtual_time(False)
                @pytest.mark.asyncio
                async def test_opted_out(self):
                    assert asyncio.get_running_loop().time() > 0  # the real clock

            @pytest.mark.asyncio
            async def test_outside_the_class_is_real():
                assert asyncio.get_running_loop().time() > 0

            @pytest.mark.asyncio
            async def test_explicit_fixture_shares_the_clock(virtual_clock):
                await asyncio.sleep(2)
                assert virtual_clock.sleeps == [2]
            """
        )
    )
    result = run(project, "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=4)
