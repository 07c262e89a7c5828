"""Malformed scripts fail where the test builds them, with a message that says how to fix it."""

import math

import pytest

from tenantfixtures.llm import OpenRouterMock, ScriptError

mock = OpenRouterMock()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: mock.reply("hi", latency=-1), "latency must be >= 0 seconds, got -1"),
        (lambda: mock.timeout(latency=math.nan), "latency must be a number of seconds, got nan"),
        (lambda: mock.reply("hi", latency="1"), "latency must be a number of seconds, got '1'"),
        (lambda: mock.reply(42), "reply() takes the answer text as a str, got 42"),
        (lambda: mock.error(418), "error() status must be one of 400, 401, 402, 403, 408, 429"),
        (lambda: mock.server_error(404), "server_error() status must be 500, 502 or 503; got 404"),
        (
            lambda: mock.server_error(502, retry_after=5),
            "retry_after is only sent with 429 and 503",
        ),
        (lambda: mock.rate_limited(retry_after=-2), "retry_after must be >= 0 seconds, got -2"),
        (lambda: mock.stream("hello"), "stream() takes a non-empty list of text chunks"),
        (lambda: mock.stream([]), "stream() takes a non-empty list of text chunks"),
        (lambda: mock.stream(["a"], keepalives=-1), "keepalives must be an int >= 0, got -1"),
        (lambda: mock.stream(["a"], interval=-0.5), "interval must be >= 0 seconds, got -0.5"),
        (lambda: mock.stream(["a"], error="x", drop=True), "error=... or drop=True, not both"),
    ],
)
def test_bad_step_arguments_raise_script_error(build, message):
    with pytest.raises(ScriptError) as caught:
        build()
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            ("All good",),
            "script() step 1: unknown step: 'All good' is a str;"
            " wrap answers as openrouter.reply('All good')",
        ),
        (
            (mock.reply("a"), mock.timeout),
            "script() step 2: unknown step: the function timeout was passed uncalled;"
            " call it: openrouter.timeout(...)",
        ),
        ((429,), "script() step 1: unknown step: 429 is not a step."),
    ],
)
def test_malformed_scripts_name_the_bad_step(steps, message):
    with pytest.raises(ScriptError) as caught:
        OpenRouterMock().script(*steps)
    assert str(caught.value).startswith(message)
    assert "Steps: reply, rate_limited, server_error, error, timeout" in str(caught.value)


def test_empty_script_is_refused():
    with pytest.raises(ScriptError, match=r"script\(\) needs at least one step"):
        OpenRouterMock().model("openai/gpt-4o").script()


def test_unknown_step_names_the_existing_ones():
    with pytest.raises(AttributeError, match="openrouter has no step or attribute 'rate_limit'"):
        mock.rate_limit(retry_after=2)  # the real step is rate_limited


def test_script_error_is_a_value_error_users_can_catch():
    with pytest.raises(ValueError, match="latency"):
        mock.connection_error(latency=-0.1)


def test_steps_describe_themselves_for_failure_messages():
    assert str(mock.rate_limited(retry_after=2)) == "rate_limited(retry_after=2.0)"
    assert str(mock.server_error(502)) == "server_error(502)"
    assert str(mock.error(402, message="no credits")) == "error(402, message='no credits')"
    assert str(mock.reply("ok", latency=1.5)) == "reply(latency=1.5, text='ok')"
    assert str(mock.timeout()) == "timeout()"


def test_default_reply_is_validated_too():
    with pytest.raises(ScriptError, match="unknown step"):
        OpenRouterMock().default_reply(200)  # type: ignore[arg-type]
