"""virtual_clock: the loop's clock is virtual, so backoff schedules cost no wall time."""

import asyncio
import datetime
import time

import anyio
import backoff
import freezegun
import pytest
import stamina
import tenacity

pytestmark = pytest.mark.asyncio


def flaky(failures: int):
    """An async function that fails ``failures`` times, then succeeds (retry libraries inspect
    it with iscoroutinefunction, so it must be a real ``async def``)."""
    attempts = 0

    async def attempt() -> str:
        nonlocal attempts
        attempts += 1
        if attempts <= failures:
            raise ConnectionError("try again")
        return "done"

    return attempt


async def test_sleeps_are_recorded_and_virtual(virtual_clock):
    started = time.perf_counter()
    for delay in (1, 2, 4, 8, 30):
        await asyncio.sleep(delay)
    assert virtual_clock.sleeps == [1, 2, 4, 8, 30]
    assert virtual_clock.now() == 45.0
    assert time.perf_counter() - started < 1.0  # 45 virtual seconds; generous for a shared CI box


async def test_anyio_sleep_call_later_and_wait_for_timeouts(virtual_clock):
    await anyio.sleep(3)
    fired = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(5, fired.set_result, "fired")
    assert await fired == "fired"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.sleep(100), timeout=7)
    assert virtual_clock.now() == 15.0
    assert virtual_clock.sleeps == [3, 100]  # call_later and the timeout are not sleeps


async def test_concurrent_sleeps_overlap_in_virtual_time(virtual_clock):
    await asyncio.gather(*(asyncio.sleep(d) for d in (5, 3, 5, 1)))
    assert virtual_clock.now() == 5.0
    assert sorted(virtual_clock.sleeps) == [1, 3, 5, 5]


async def test_tenacity_waits_its_real_schedule_virtually(virtual_clock):
    retrying = tenacity.AsyncRetrying(
        wait=tenacity.wait_exponential(multiplier=1, min=1, max=30),
        stop=tenacity.stop_after_attempt(6),
    )
    assert await retrying(flaky(failures=4)) == "done"
    assert virtual_clock.sleeps == [1, 2, 4, 8]


async def test_stamina_retries_under_the_virtual_clock(virtual_clock):
    retry = stamina.retry(on=ConnectionError, attempts=5, wait_initial=1, wait_jitter=0)
    decorated = retry(flaky(failures=3))
    assert await decorated() == "done"
    assert virtual_clock.sleeps == [1, 2, 4]


async def test_backoff_retries_under_the_virtual_clock(virtual_clock):
    retry = backoff.on_exception(backoff.expo, ConnectionError, max_tries=5, jitter=None, factor=2)
    decorated = retry(flaky(failures=3))
    assert await decorated() == "done"
    assert virtual_clock.sleeps == [2, 4, 8]


async def test_time_monotonic_stays_real(virtual_clock):
    """Documented limit: code that measures time.monotonic() sees ~0 s pass."""
    before = time.monotonic()
    await asyncio.sleep(60)
    assert time.monotonic() - before < 5
    assert virtual_clock.now() == 60.0


async def test_wall_time_moves_dates_with_the_virtual_clock(virtual_clock):
    with virtual_clock.wall_time("2026-01-01 09:00:00"):
        assert datetime.datetime.now() == datetime.datetime(2026, 1, 1, 9, 0)
        await asyncio.sleep(90)
        assert datetime.datetime.now() == datetime.datetime(2026, 1, 1, 9, 1, 30)
        assert (
            time.time() == datetime.datetime(2026, 1, 1, 9, 1, 30, tzinfo=datetime.UTC).timestamp()
        )
    assert datetime.datetime.now() != datetime.datetime(2026, 1, 1, 9, 1, 30)  # unfrozen again


@freezegun.freeze_time("2030-05-01 12:00:00")
async def test_plain_freezegun_and_virtual_clock_combine(virtual_clock):
    """freezegun freezes time.monotonic, which alone hangs asyncio.sleep; here sleeps still pass."""
    await asyncio.wait_for(asyncio.sleep(10), timeout=20)
    assert virtual_clock.now() == 10.0
    assert datetime.datetime.now() == datetime.datetime(2030, 5, 1, 12, 0)  # frozen, not ticking
