"""The app's OpenRouter client against the openrouter mock, on virtual time."""

import asyncio

import pytest

from app import openrouter as client
from app.openrouter import OpenRouterError, query_model, stream_model

KEY = "sk-or-v1-example-app-key-0123456789"
MODEL = "openai/gpt-4o"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)


async def collect(model=MODEL):
    return [delta async for delta in stream_model(model, HI)]


@pytest.mark.asyncio
async def test_backoff(openrouter, virtual_clock):
    openrouter.script(
        openrouter.rate_limited(retry_after=2),  # 429 with a real OpenRouter error body
        openrouter.server_error(502),
        openrouter.timeout(),  # httpx.ReadTimeout
        openrouter.reply("All good"),  # 200 chat completion
    )
    result = await query_model(MODEL, HI)
    assert result["content"] == "All good"
    assert len(openrouter.calls) == 4
    assert virtual_clock.sleeps == [1, 2, 4]
    assert virtual_clock.now() == 1 + 2 + 30 + 4  # the timeout waited the client's 30 s


@pytest.mark.asyncio
async def test_full_retry_ladder_then_gives_up(openrouter, virtual_clock):
    openrouter.script(*[openrouter.server_error(503)] * 5)
    with pytest.raises(OpenRouterError) as caught:
        await query_model(MODEL, HI)
    assert str(caught.value) == (
        "openai/gpt-4o: gave up after 5 attempts, last: 503 No available model provider"
        " that meets your routing requirements"
    )
    assert virtual_clock.sleeps == [1, 2, 4, 8]
    assert [call.at for call in openrouter.calls] == [0, 1, 3, 7, 15]


@pytest.mark.asyncio
async def test_retry_after_is_not_honoured(openrouter, virtual_clock):
    """The app always waits 2**attempt: a 30 s Retry-After is retried after 1 s."""
    openrouter.script(openrouter.rate_limited(retry_after=30), openrouter.reply("too early"))
    assert (await query_model(MODEL, HI))["content"] == "too early"
    assert virtual_clock.sleeps == [1]
    assert openrouter.calls[1].at - openrouter.calls[0].at == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 401, 402, 403])
async def test_client_errors_are_not_retried(openrouter, virtual_clock, status):
    openrouter.script(openrouter.error(status, message="refused"))  # a retry would exhaust it
    with pytest.raises(OpenRouterError, match=f"^openai/gpt-4o: {status} refused$"):
        await query_model(MODEL, HI)
    assert len(openrouter.calls) == 1
    assert virtual_clock.sleeps == []


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_transient_statuses_are_retried(openrouter, virtual_clock, status):
    openrouter.script(openrouter.error(status), openrouter.reply("recovered"))
    assert (await query_model(MODEL, HI))["content"] == "recovered"
    assert virtual_clock.sleeps == [1]


@pytest.mark.asyncio
async def test_connection_errors_are_retried(openrouter, virtual_clock):
    openrouter.script(openrouter.connection_error(), openrouter.reply("reconnected"))
    assert (await query_model(MODEL, HI))["content"] == "reconnected"
    assert virtual_clock.sleeps == [1]


@pytest.mark.asyncio
async def test_a_reply_slower_than_the_timeout_is_retried(openrouter, virtual_clock):
    openrouter.script(openrouter.reply("late", latency=45), openrouter.reply("fast", latency=2))
    assert (await query_model(MODEL, HI, timeout=10))["content"] == "fast"
    assert virtual_clock.now() == 10 + 1 + 2


@pytest.mark.asyncio
async def test_request_carries_model_messages_and_credentials(openrouter):
    openrouter.default_reply("ok")
    result = await query_model(MODEL, HI)
    call = openrouter.assert_sent(model=MODEL, messages=HI)
    assert call.headers["authorization"] == "Bearer …REDACTED"
    assert call.headers["x-title"] == "Council"
    assert KEY not in repr(openrouter.calls)
    assert result == {"model": MODEL, "content": "ok", "usage": result["usage"]}
    assert result["usage"]["total_tokens"] == 2  # "hi" + "ok"


@pytest.mark.asyncio
async def test_missing_api_key_fails_before_any_request(openrouter, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY")
    with pytest.raises(OpenRouterError, match="OPENROUTER_API_KEY is not set"):
        await query_model(MODEL, HI)
    assert openrouter.calls == []


@pytest.mark.asyncio
async def test_a_200_that_failed_mid_generation_is_an_error(openrouter):
    openrouter.script(openrouter.reply("half an ans", finish_reason="error"))
    with pytest.raises(OpenRouterError, match="the provider failed during generation"):
        await query_model(MODEL, HI)


@pytest.mark.asyncio
async def test_stream_yields_deltas_and_skips_keepalives(openrouter):
    openrouter.script(openrouter.stream(["The ", "answer ", "is 42."], keepalives=3))
    assert await collect() == ["The ", "answer ", "is 42."]
    assert openrouter.calls[0].json["stream"] is True


@pytest.mark.asyncio
async def test_stream_error_mid_way_raises_after_the_partial_answer(openrouter):
    openrouter.script(openrouter.stream(["The ", "ans"], error="Upstream provider timed out"))
    received = []

    async def consume():
        async for delta in stream_model(MODEL, HI):
            received.append(delta)

    with pytest.raises(OpenRouterError, match="stream failed: Upstream provider timed out"):
        await consume()
    assert received == ["The ", "ans"]


@pytest.mark.asyncio
async def test_dropped_stream_raises(openrouter):
    openrouter.script(openrouter.stream(["The "], drop=True))
    with pytest.raises(OpenRouterError, match=r"stream interrupted \(RemoteProtocolError\)"):
        await collect()
    assert openrouter.in_flight == 0


@pytest.mark.asyncio
async def test_streams_are_not_retried(openrouter, virtual_clock):
    openrouter.script(openrouter.rate_limited(retry_after=1))  # a retry would exhaust it
    with pytest.raises(OpenRouterError, match="429 Rate limit exceeded"):
        await collect()
    assert len(openrouter.calls) == 1
    assert virtual_clock.sleeps == []


@pytest.mark.asyncio
@pytest.mark.parametrize("run", ["first loop", "second loop"])
async def test_global_semaphore_caps_concurrency_on_every_loop(openrouter, virtual_clock, run):
    """Run twice: each test has a new event loop, and the cap must hold on both."""
    openrouter.default_reply(openrouter.reply("ok", latency=1))
    await asyncio.gather(*(query_model(f"m/{i}", HI) for i in range(10)))
    assert openrouter.max_in_flight == client.MAX_CONCURRENT_REQUESTS == 4
    assert virtual_clock.now() == 3  # 10 requests, 4 at a time, 1 virtual second each


@pytest.mark.asyncio
async def test_open_streams_hold_the_semaphore_until_closed(openrouter, virtual_clock):
    openrouter.model("slow/stream").script(*[openrouter.stream(["a", "b"], interval=5)] * 4)
    openrouter.model("quick/query").script(openrouter.reply("done"))
    streams = [asyncio.create_task(collect("slow/stream")) for _ in range(4)]
    await asyncio.sleep(0.1)
    answer = await query_model("quick/query", HI)
    assert answer["content"] == "done"
    assert openrouter.calls_for("quick/query")[0].at == 5  # it waited for a stream to finish
    assert [await s for s in streams] == [["a", "b"]] * 4
    assert openrouter.max_in_flight == 4
