"""What real clients (httpx sync/async, httpx2 through the openai SDK) receive from the mock."""

import asyncio
import json

import httpx
import openai
import pytest

from tenantfixtures.llm.payloads import ERRORS

URL = "https://openrouter.ai/api/v1/chat/completions"
KEY = "sk-or-v1-0123456789abcdef0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}"}
ASK = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Say hi twice"}]}


async def post(body=ASK, timeout=30.0):
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await client.post(URL, json=body, headers=HEADERS)


def sdk(**kwargs):
    return openai.AsyncOpenAI(base_url="https://openrouter.ai/api/v1", api_key=KEY, **kwargs)


@pytest.mark.asyncio
async def test_reply_is_an_openrouter_chat_completion(openrouter):
    openrouter.script(openrouter.reply("Hi hi"))
    response = await post()
    body = response.json()
    assert response.status_code == 200
    assert response.headers["x-generation-id"] == body["id"]
    assert body["id"].startswith("gen-")
    assert body["object"] == "chat.completion"
    assert (body["model"], body["provider"]) == ("openai/gpt-4o", "OpenAI")
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hi hi",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (3, 2, 5)
    assert usage["cost"] > 0
    assert "x-ratelimit-limit" not in response.headers  # never on success


@pytest.mark.asyncio
@pytest.mark.parametrize("status", sorted(ERRORS))
async def test_every_error_status_has_openrouters_error_body(openrouter, status):
    openrouter.script(openrouter.error(status))
    response = await post()
    error = response.json()["error"]
    assert response.status_code == status
    assert error["code"] == status
    assert error["message"] == ERRORS[status][0]
    assert error.get("metadata", {}).get("error_type") == ERRORS[status][1]


@pytest.mark.asyncio
async def test_rate_limited_sends_retry_after_and_rate_limit_headers(openrouter):
    openrouter.script(openrouter.rate_limited(retry_after=2), openrouter.rate_limited())
    first, second = await post(), await post()
    assert first.headers["retry-after"] == "2"
    assert first.headers["x-ratelimit-limit"] == "20"
    assert first.headers["x-ratelimit-remaining"] == "0"
    assert int(first.headers["x-ratelimit-reset"]) > 1_700_000_000_000  # epoch milliseconds
    assert "retry-after" not in second.headers


@pytest.mark.asyncio
async def test_503_can_ask_to_retry_later(openrouter):
    openrouter.script(openrouter.server_error(503, retry_after=7))
    response = await post()
    assert (response.status_code, response.headers["retry-after"]) == (503, "7")


@pytest.mark.asyncio
async def test_timeout_and_connection_errors_are_the_clients_own(openrouter):
    openrouter.script(openrouter.timeout(), openrouter.connection_error())
    with pytest.raises(httpx.ReadTimeout):
        await post()
    with pytest.raises(httpx.ConnectError):
        await post()
    assert openrouter.in_flight == 0


@pytest.mark.asyncio
async def test_latency_beyond_the_clients_read_timeout_times_out(openrouter, virtual_clock):
    openrouter.script(openrouter.reply("late", latency=40))
    with pytest.raises(httpx.ReadTimeout):
        await post(timeout=30.0)
    assert virtual_clock.now() == 30.0  # the client's timeout, not the scripted latency


@pytest.mark.asyncio
async def test_timeout_waits_the_clients_read_timeout_in_virtual_time(openrouter, virtual_clock):
    openrouter.script(openrouter.timeout(), openrouter.timeout(latency=3))
    for _ in range(2):
        with pytest.raises(httpx.ReadTimeout):
            await post(timeout=12.0)
    assert virtual_clock.now() == 15.0
    assert virtual_clock.sleeps == []  # the mock's waits are not the code's sleeps


@pytest.mark.asyncio
async def test_stream_is_sse_exactly_as_openrouter_sends_it(openrouter):
    openrouter.script(openrouter.stream(["Hel", "lo"], keepalives=2))
    async with httpx.AsyncClient() as client:
        body = {**ASK, "stream": True}
        async with client.stream("POST", URL, json=body, headers=HEADERS) as response:
            raw = (await response.aread()).decode()
    assert response.headers["content-type"] == "text/event-stream"
    events = raw.split("\n\n")
    assert events[:2] == [": OPENROUTER PROCESSING"] * 2
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[2:-2]]
    assert [c["choices"][0]["delta"] for c in chunks[:2]] == [
        {"role": "assistant", "content": "Hel"},
        {"content": "lo"},
    ]
    assert chunks[2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[3]["choices"] == []
    assert chunks[3]["usage"]["completion_tokens"] == 1
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert events[-2:] == ["data: [DONE]", ""]


@pytest.mark.asyncio
async def test_reply_to_a_streaming_request_streams_word_deltas(openrouter):
    openrouter.default_reply("one two three")
    client = sdk()
    stream = await client.chat.completions.create(**ASK, stream=True)
    deltas = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert "".join(d or "" for d in deltas) == "one two three"
    assert deltas[:3] == ["one ", "two ", "three"]
    assert openrouter.calls[0].stream is True


@pytest.mark.asyncio
async def test_mid_stream_error_is_a_200_with_an_error_chunk(openrouter):
    openrouter.script(openrouter.stream(["partial"], error="Provider disconnected"))
    stream = await sdk().chat.completions.create(**ASK, stream=True)
    received: list[str] = []

    async def consume():
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)

    with pytest.raises(openai.APIError, match="Provider disconnected"):
        await consume()
    assert received == ["partial"]


@pytest.mark.asyncio
async def test_dropped_stream_raises_the_clients_protocol_error(openrouter):
    openrouter.script(openrouter.stream(["par", "tial"], drop=True))
    async with httpx.AsyncClient() as client:
        body = {**ASK, "stream": True}
        async with client.stream("POST", URL, json=body, headers=HEADERS) as response:
            with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
                await response.aread()
    assert openrouter.in_flight == 0


@pytest.mark.asyncio
async def test_openai_sdk_over_httpx2_retries_what_the_mock_scripts(openrouter, virtual_clock):
    openrouter.model("openai/gpt-4o").script(
        openrouter.rate_limited(retry_after=3), openrouter.server_error(502), openrouter.reply("ok")
    )
    completion = await sdk(max_retries=2).chat.completions.create(**ASK)
    assert completion.choices[0].message.content == "ok"
    assert [c.headers["x-stainless-retry-count"] for c in openrouter.calls] == ["0", "1", "2"]
    assert virtual_clock.sleeps[0] == 3.0  # the SDK honours Retry-After (anyio.sleep, virtual)


@pytest.mark.asyncio
async def test_openai_sdk_sees_timeouts_and_connection_errors(openrouter):
    openrouter.script(openrouter.timeout(), openrouter.connection_error())
    with pytest.raises(openai.APITimeoutError):
        await sdk(max_retries=0).chat.completions.create(**ASK)
    with pytest.raises(openai.APIConnectionError):
        await sdk(max_retries=0).chat.completions.create(**ASK)


def test_sync_httpx_client(openrouter):
    openrouter.script(
        openrouter.reply("sync"), openrouter.error(402), openrouter.timeout(latency=0)
    )
    with httpx.Client() as client:
        assert client.post(URL, json=ASK).json()["choices"][0]["message"]["content"] == "sync"
        assert client.post(URL, json=ASK).status_code == 402
        with pytest.raises(httpx.ReadTimeout):
            client.post(URL, json=ASK)
    assert openrouter.in_flight == 0
    assert [c.at for c in openrouter.calls] == [None, None, None]


@pytest.mark.asyncio
async def test_max_in_flight_counts_overlapping_requests(openrouter, virtual_clock):
    openrouter.default_reply(openrouter.reply("slow", latency=1))
    limit = asyncio.Semaphore(2)

    async def limited():
        async with limit:
            return await post()

    await asyncio.gather(*(limited() for _ in range(5)))
    assert openrouter.max_in_flight == 2
    assert virtual_clock.now() == 3.0  # 5 requests, 2 at a time, 1 s each
    await asyncio.gather(*(post() for _ in range(5)))
    assert openrouter.max_in_flight == 5
    assert openrouter.in_flight == 0


@pytest.mark.asyncio
async def test_a_stream_counts_as_in_flight_until_closed(openrouter, virtual_clock):
    openrouter.script(openrouter.stream(["a", "b", "c"], interval=2))
    async with httpx.AsyncClient() as client:
        body = {**ASK, "stream": True}
        async with client.stream("POST", URL, json=body, headers=HEADERS) as response:
            lines = response.aiter_lines()
            assert await anext(lines) == ": OPENROUTER PROCESSING"
            assert openrouter.in_flight == 1  # the stream is open, half read
        assert openrouter.in_flight == 0  # closed early: no longer in flight
    assert virtual_clock.now() == 0.0


@pytest.mark.asyncio
async def test_stream_interval_spaces_the_text_chunks_in_virtual_time(openrouter, virtual_clock):
    openrouter.script(openrouter.stream(["a", "b", "c"], interval=2, latency=1))
    stream = await sdk().chat.completions.create(**ASK, stream=True)
    arrivals = [
        (chunk.choices[0].delta.content, virtual_clock.now())
        async for chunk in stream
        if chunk.choices
    ]
    assert arrivals[:3] == [("a", 1.0), ("b", 3.0), ("c", 5.0)]
    assert openrouter.in_flight == 0


@pytest.mark.asyncio
async def test_calls_record_what_was_sent_with_secrets_redacted(openrouter):
    openrouter.default_reply("ok")
    oauth = {"client_secret": "cs-123456", "access_token": "at-654321", "max_tokens": 5}
    body = {**ASK, "api_key": KEY, "metadata": {"note": f"key is {KEY}", **oauth}}
    async with httpx.AsyncClient() as client:
        await client.post(f"{URL}?key={KEY}", json=body, headers={**HEADERS, "X-Api-Key": KEY})
    call = openrouter.assert_sent(model="openai/gpt-4o")
    assert call.messages == ASK["messages"]
    assert call.headers["authorization"] == "Bearer …REDACTED"
    assert call.headers["x-api-key"] == "…REDACTED"
    assert call.json["api_key"] == "…REDACTED"
    assert call.json["metadata"] == {
        "note": "key is sk-…REDACTED",
        "client_secret": "…REDACTED",
        "access_token": "…REDACTED",
        "max_tokens": 5,
    }
    everything = repr(openrouter.calls) + repr(openrouter)
    assert "cs-123456" not in everything
    assert "at-654321" not in everything
    assert KEY not in everything
    assert "sk-or-v1" not in everything


@pytest.mark.asyncio
async def test_assert_sent_lists_the_calls_when_nothing_matches(openrouter):
    openrouter.default_reply("ok")
    await post()
    with pytest.raises(AssertionError) as caught:
        openrouter.assert_sent(model="anthropic/claude-sonnet-4", api_key=KEY)
    message = str(caught.value)
    assert message.startswith(
        "no call sent {'model': 'anthropic/claude-sonnet-4', 'api_key': '…REDACTED'}; calls:"
    )
    assert "#1 openai/gpt-4o" in message
    assert KEY not in message


@pytest.mark.asyncio
@pytest.mark.openrouter(base_url="https://llm-gateway.internal/openrouter/v1")
async def test_base_url_can_point_at_a_self_hosted_gateway(openrouter):
    openrouter.default_reply("from the gateway")
    async with httpx.AsyncClient() as client:
        response = await client.post(
            "https://llm-gateway.internal/openrouter/v1/chat/completions", json=ASK
        )
    assert response.json()["choices"][0]["message"]["content"] == "from the gateway"


@pytest.mark.asyncio
async def test_per_model_scripts_and_default_reply(openrouter):
    openrouter.model("anthropic/claude-sonnet-4").script(openrouter.server_error(500))
    openrouter.default_reply("default")
    bad = await post({**ASK, "model": "anthropic/claude-sonnet-4"})
    good = await post()
    assert bad.status_code == 500
    assert good.json()["choices"][0]["message"]["content"] == "default"
    assert [c.model for c in openrouter.calls_for("anthropic/claude-sonnet-4")] == [
        "anthropic/claude-sonnet-4"
    ]
