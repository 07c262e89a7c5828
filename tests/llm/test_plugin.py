"""The fixtures as users meet them: inner pytest sessions, their outcomes and exact messages."""

import textwrap

import pytest

SECRET = "sk-or-v1-feedfacecafebeef0123456789"
CLIENT = f'''
import asyncio

import httpx

URL = "https://openrouter.ai/api/v1/chat/completions"


async def query_model(model, messages, swallow=False):
    """Retries 429/5xx/timeouts with 1, 2, 4... s of backoff, like the apps we test."""
    async with httpx.AsyncClient(timeout=30) as client:
        for attempt in range(5):
            try:
                response = await client.post(
                    URL,
                    json={{"model": model, "messages": messages, "api_key": "{SECRET}"}},
                    headers={{"Authorization": "Bearer {SECRET}"}},
                )
            except httpx.TimeoutException:
                pass
            except Exception:
                if not swallow:
                    raise
                return {{"content": "fallback"}}
            else:
                if response.status_code == 200:
                    return {{"content": response.json()["choices"][0]["message"]["content"]}}
            await asyncio.sleep(2**attempt)
    raise RuntimeError("gave up")
'''
DESIGN_EXAMPLE = """
from client import query_model

{marker}
async def test_backoff(openrouter, virtual_clock):
    openrouter.script(
        openrouter.rate_limited(retry_after=2),   # 429 with a real OpenRouter error body
        openrouter.server_error(502),
        openrouter.timeout(),                     # httpx.ReadTimeout
        openrouter.reply("All good"),             # 200 chat completion
    )
    result = await query_model("openai/gpt-4o", [{{"role": "user", "content": "hi"}}])
    assert result["content"] == "All good"
    assert len(openrouter.calls) == 4
    assert virtual_clock.sleeps == [1, 2, 4]
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(client=CLIENT)
    pytester.makeini("[pytest]\npythonpath = .\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def run(project: pytest.Pytester, test: str, *args: str) -> pytest.RunResult:
    project.makepyfile(test_it=textwrap.dedent(test))
    return project.runpytest("-p", "tenantfixtures", "-p", "no:randomly", *args)


@pytest.mark.parametrize(
    ("marker", "args"),
    [
        ("@pytest.mark.asyncio", ("-o", "asyncio_mode=strict")),
        ("", ("-o", "asyncio_mode=auto")),
        ("@pytest.mark.anyio", ("-o", "asyncio_mode=strict")),
    ],
    ids=["asyncio-strict", "asyncio-auto", "anyio"],
)
def test_design_example_passes_under_each_async_runner(project, marker, args):
    header = "import pytest\n\n" + (
        "@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n" if "anyio" in marker else ""
    )
    result = run(project, header + DESIGN_EXAMPLE.format(marker=marker), *args)
    result.assert_outcomes(passed=1)


def test_unmatched_request_fails_the_test_listing_the_routes(project):
    result = run(
        project,
        """
        import httpx, pytest

        @pytest.mark.asyncio
        async def test_wrong_url(openrouter):
            openrouter.model("openai/gpt-4o").script(openrouter.reply("hi"))
            async with httpx.AsyncClient() as client:
                await client.get("https://openrouter.ai/api/v1/models")
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "openrouter: no route matches GET https://openrouter.ai/api/v1/models (call #1);"
            " tests never reach the network. Routes:",
            "  POST https://openrouter.ai/api/v1/chat/completions",
            "    model 'openai/gpt-4o': 1 of 1 steps left",
            "Point the client at the base URL above, or change it with the"
            " tenantfixtures_openrouter_base_url ini option or"
            " @pytest.mark.openrouter(base_url=...).",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "tenantfixtures/llm" not in result.stdout.str()  # no traceback from our internals


def test_exhausted_script_names_the_route_and_call_number_even_if_the_app_swallows_it(project):
    result = run(
        project,
        """
        import pytest
        from client import query_model

        @pytest.mark.asyncio
        async def test_runs_out(openrouter, virtual_clock):
            openrouter.model("openai/gpt-4o").script(
                openrouter.server_error(500), openrouter.server_error(503)
            )
            result = await query_model("openai/gpt-4o", [], swallow=True)
            assert result == {"content": "fallback"}  # the app hid the problem...
        """,
    )
    result.assert_outcomes(failed=1)  # ...the mock did not
    result.stdout.fnmatch_lines(
        [
            "openrouter: script exhausted: POST https://openrouter.ai/api/v1/chat/completions"
            " model 'openai/gpt-4o', call #3 to it, but it has 2 steps"
            " (server_error(500), server_error(503))"
        ]
    )


def test_unscripted_model_says_how_to_script_it(project):
    result = run(
        project,
        """
        import pytest
        from client import query_model

        @pytest.mark.asyncio
        async def test_forgot(openrouter):
            await query_model("google/gemini-2.5-pro", [])
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "openrouter: nothing scripted for model 'google/gemini-2.5-pro' (call #1 to POST"
            " https://openrouter.ai/api/v1/chat/completions); use openrouter.script(...),"
            " openrouter.model('google/gemini-2.5-pro').script(...)"
            " or openrouter.default_reply(...)"
        ]
    )


def test_secrets_never_reach_the_report(project):
    result = run(
        project,
        """
        import pytest
        from client import query_model

        @pytest.mark.asyncio
        async def test_prints_everything(openrouter, virtual_clock):
            openrouter.script(openrouter.reply("ok"))
            await query_model("openai/gpt-4o", [])
            print(openrouter, openrouter.calls)
            await query_model("openai/gpt-4o", [])  # exhausted: fails with a message
        """,
        "-rA",
        "-vv",
    )
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "'authorization': 'Bearer …REDACTED'" in output
    assert "'api_key': '…REDACTED'" in output
    assert SECRET not in output


def test_virtual_clock_refuses_a_synchronous_test(project):
    result = run(project, "def test_sync(virtual_clock):\n    pass\n")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "virtual_clock needs an async test (test_sync is synchronous): make it `async def`"
            " under pytest-asyncio or anyio"
        ]
    )


def test_bad_base_url_ini_is_a_usage_error(project):
    project.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "tenantfixtures_openrouter_base_url = openrouter.ai/api/v1\n"
    )
    result = run(project, "def test_x():\n    pass\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: tenantfixtures_openrouter_base_url: 'openrouter.ai/api/v1' is not an http(s)"
            " URL; use e.g. 'https://openrouter.ai/api/v1'"
        ]
    )


def test_base_url_ini_moves_the_route(project):
    project.makeini(
        "[pytest]\npythonpath = .\nasyncio_default_fixture_loop_scope = function\n"
        "tenantfixtures_openrouter_base_url = http://gateway.local:8080/v1/\n"
    )
    result = run(
        project,
        """
        import httpx

        def test_gateway(openrouter):
            openrouter.default_reply("via gateway")
            body = {"model": "m", "messages": []}
            with httpx.Client() as client:
                response = client.post("http://gateway.local:8080/v1/chat/completions", json=body)
                assert response.json()["choices"][0]["message"]["content"] == "via gateway"
                client.post("https://openrouter.ai/api/v1/chat/completions", json=body)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no route matches POST https://openrouter.ai/api/v1/chat/*"])


def test_bad_marker_arguments_fail_clearly(project):
    result = run(
        project,
        """
        import pytest

        @pytest.mark.openrouter(url="https://x")
        def test_typo(openrouter):
            pass
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["@pytest.mark.openrouter takes only base_url=... and assert_all_called=..."]
    )


def test_each_test_gets_a_fresh_mock_and_patches_are_undone_under_xdist(project):
    project.makepyfile(
        test_it="""
        import httpcore
        import pytest

        ORIGINAL = httpcore.AsyncConnectionPool.handle_async_request

        @pytest.mark.parametrize("n", range(4))
        @pytest.mark.asyncio
        async def test_scripted(openrouter, virtual_clock, n):
            from client import query_model
            openrouter.script(*[openrouter.server_error(502)] * n, openrouter.reply(f"after {n}"))
            assert (await query_model("m", []))["content"] == f"after {n}"
            assert virtual_clock.sleeps == [2**i for i in range(n)]
            assert openrouter.max_in_flight == 1

        @pytest.mark.parametrize("n", range(4))
        def test_unpatched_after(n):
            assert httpcore.AsyncConnectionPool.handle_async_request is ORIGINAL
        """
    )
    result = project.runpytest_subprocess("-p", "tenantfixtures", "-n", "2", "-p", "no:randomly")
    result.assert_outcomes(passed=8)


RESPX_NEIGHBOUR = """
import httpx, pytest

@pytest.mark.asyncio
async def test_both({fixtures}):
    respx_mock.get("https://api.example.com/x").respond(json={{"from": "respx"}})
    openrouter.default_reply("from openrouter")
    body = {{"model": "m", "messages": []}}
    async with httpx.AsyncClient() as client:
        assert (await client.get("https://api.example.com/x")).json() == {{"from": "respx"}}
        response = await client.post("https://openrouter.ai/api/v1/chat/completions", json=body)
        assert response.json()["choices"][0]["message"]["content"] == "from openrouter"
    with httpx.Client() as client:
        assert client.get("https://api.example.com/x").json() == {{"from": "respx"}}
    assert len(openrouter.calls) == 1  # the other router's request is not ours

@pytest.mark.asyncio
async def test_neither({fixtures}):
    respx_mock.get("https://api.example.com/x").respond(204)
    async with httpx.AsyncClient() as client:
        await client.get("https://api.example.com/x")
        await client.get("https://api.example.com/elsewhere")
"""


@pytest.mark.parametrize("fixtures", ["openrouter, respx_mock", "respx_mock, openrouter"])
def test_respx_mock_and_openrouter_each_answer_their_routes_in_either_order(project, fixtures):
    result = run(project, RESPX_NEIGHBOUR.format(fixtures=fixtures))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["openrouter: no route matches GET https://api.example.com/elsewhere (call #1);*"]
    )


UNUSED = """
import httpx, pytest

def ask(client):
    body = {{"model": "openai/gpt-4o", "messages": []}}
    return client.post("https://openrouter.ai/api/v1/chat/completions", json=body)

{marker}
def test_stops_early(openrouter):
    {attribute}
    openrouter.script(openrouter.server_error(502), openrouter.reply("a"), openrouter.reply("b"))
    openrouter.model("x/y").script(openrouter.reply("never"))
    openrouter.default_reply("fallback")  # answers anything, never counted
    with httpx.Client() as client:
        assert ask(client).status_code == 502  # no retry: two steps are left
"""


def test_unused_scripted_steps_fail_the_test_at_teardown(project):
    result = run(project, UNUSED.format(marker="", attribute=""))
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_stops_early*",
            "openrouter: 3 scripted step(s) never used"
            " (POST https://openrouter.ai/api/v1/chat/completions):",
            "  default script: #2 reply(text='a'), #3 reply(text='b')",
            "  model 'x/y': #1 reply(text='never')",
            "Remove them if the code is right to stop early, or opt out with"
            " openrouter.assert_all_called = False or"
            " @pytest.mark.openrouter(assert_all_called=False).",
        ]
    )


@pytest.mark.parametrize(
    ("marker", "attribute"),
    [
        ("@pytest.mark.openrouter(assert_all_called=False)", ""),
        ("", "openrouter.assert_all_called = False"),
    ],
    ids=["marker", "attribute"],
)
def test_unused_steps_can_be_allowed(project, marker, attribute):
    run(project, UNUSED.format(marker=marker, attribute=attribute)).assert_outcomes(passed=1)


def test_a_failing_test_is_not_also_blamed_for_unused_steps(project):
    result = run(
        project,
        """
        def test_fails(openrouter):
            openrouter.script(openrouter.reply("unused"))
            assert False, "the real failure"
        """,
    )
    result.assert_outcomes(failed=1)
    assert "never used" not in result.stdout.str()
