"""OpenRouter mock + virtual clock: what they cost and what they save, side by side.

    .venv/bin/python benchmarks/bench_llm.py

1. A retry ladder sleeping 1+2+4+8+30 s (five failures, then an answer) under the virtual clock,
   vs the same client with real sleeps scaled down 1000x (45 ms of sleeping).
2. Per-request overhead of the openrouter mock vs a bare respx route returning a fixed completion.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
import respx

from tenantfixtures.llm import OpenRouterMock, VirtualClock

URL = "https://openrouter.ai/api/v1/chat/completions"
BODY = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
LADDER = (1, 2, 4, 8, 30)
ROUNDS = 25
REQUESTS = 200


async def ladder(client: httpx.AsyncClient, sleep: Callable[[float], Awaitable[None]]) -> None:
    """The code under test: retry 5xx with the ladder's delays. The client is built outside the
    timed region, as building one (its SSL context) costs more than the whole ladder."""
    for delay in (*LADDER, None):
        response = await client.post(URL, json=BODY)
        if response.status_code == 200:
            return
        assert delay is not None, "the ladder ran out"
        await sleep(delay)


def scripted_mock() -> OpenRouterMock:
    mock = OpenRouterMock()
    mock.script(*[mock.server_error(502)] * len(LADDER), mock.reply("done"))
    return mock


async def virtual_round() -> float:
    mock, clock = scripted_mock(), VirtualClock()
    mock.start()
    clock.attach(asyncio.get_running_loop())
    try:
        async with httpx.AsyncClient() as client:
            started = time.perf_counter()
            await ladder(client, asyncio.sleep)
            elapsed = time.perf_counter() - started
    finally:
        clock.detach()
        mock.stop()
    assert clock.sleeps == list(LADDER), clock.sleeps
    return elapsed


async def scaled_round() -> float:
    mock = scripted_mock()
    mock.start()
    try:
        async with httpx.AsyncClient() as client:
            started = time.perf_counter()
            await ladder(client, lambda delay: asyncio.sleep(delay / 1000))
            return time.perf_counter() - started
    finally:
        mock.stop()


async def per_request(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    for _ in range(REQUESTS):
        (await client.post(URL, json=BODY)).raise_for_status()
    return (time.perf_counter() - started) / REQUESTS


async def mock_request_round() -> float:
    mock = OpenRouterMock()
    mock.default_reply("done")
    mock.start()
    try:
        async with httpx.AsyncClient() as client:
            return await per_request(client)
    finally:
        mock.stop()


async def respx_request_round() -> float:
    completion = {"choices": [{"message": {"role": "assistant", "content": "done"}}]}
    with respx.mock(assert_all_called=False) as router:
        router.post(URL).respond(200, json=completion)
        async with httpx.AsyncClient() as client:
            return await per_request(client)


def median(round_: Callable[[], Awaitable[float]]) -> float:
    return statistics.median(asyncio.run(round_()) for _ in range(ROUNDS))


def main() -> None:
    virtual, scaled = median(virtual_round), median(scaled_round)
    mocked, bare = median(mock_request_round), median(respx_request_round)
    real = sum(LADDER)
    print(f"retry ladder {'+'.join(map(str, LADDER))} s = {real} s, median of {ROUNDS} runs")
    print(
        f"  virtual_clock          {virtual * 1e3:8.2f} ms wall  ({real / virtual:,.0f}x real time)"
    )
    print(f"  real sleeps / 1000     {scaled * 1e3:8.2f} ms wall")
    print(f"  virtual vs scaled      {scaled / virtual:8.1f}x faster")
    target = "met" if virtual <= 0.020 and real / virtual >= 2000 else "MISSED"
    print(f"  target <= 20 ms and >= 2000x real time: {target}")
    print(f"per request, median of {ROUNDS} rounds of {REQUESTS}")
    print(f"  openrouter mock        {mocked * 1e6:8.1f} us")
    print(f"  bare respx route       {bare * 1e6:8.1f} us")
    print(f"  mock overhead          {(mocked - bare) * 1e6:8.1f} us ({mocked / bare:.2f}x)")


if __name__ == "__main__":
    main()
