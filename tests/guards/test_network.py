"""The network guard, through inner pytest sessions: it fires, it stays silent, it is configurable.

Blocked destinations are TEST-NET addresses (192.0.2.0/24, RFC 5737) and ``.invalid`` names:
the guard stops them before a packet or a DNS query leaves; nothing real is ever contacted.
"""

from __future__ import annotations

import socket

import pytest

from tenantfixtures.guards.network import (
    AllowRule,
    Destination,
    NetworkBlockedError,
    NetworkGuard,
    parse_rules,
)

HINT = (
    "Mock it (the `openrouter` fixture, or respx routes), or allow it:"
    ' @pytest.mark.allow_network("{host}") on the test, or'
    " `tenantfixtures_allowed_hosts = {host}` in the ini file"
    " (--tf-guard=warn only warns, --tf-guard=off disables the guard)."
)


def blocked(test: str, where: str, line: str | None) -> list[str]:
    """The exact two-line message for a test that reached ``where``."""
    host = where.split(":")[0]
    origin = f" (from {line})" if line else ""
    return [
        f"tenantfixtures network guard: {test} tried to reach the real network: {where}{origin}.",
        HINT.format(host=host),
    ]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "tenantfixtures", "-p", "no:randomly", *args)


def assert_has_lines(result: pytest.RunResult, lines: list[str]) -> None:
    output = result.stdout.lines
    for line in lines:
        assert line in output, f"missing line:\n{line}\nin:\n{result.stdout.str()}"


CLIENTS = """
import asyncio
import socket
import threading
import urllib.request

import httpx
import httpx2


def test_raw_socket():
    sock = socket.socket()
    sock.settimeout(0.2)
    sock.connect(("192.0.2.1", 80))


def test_udp_sendto():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(b"x", ("192.0.2.2", 53))


def test_urllib():
    urllib.request.urlopen("http://192.0.2.3:8080/", timeout=0.2)


def test_httpx_caught_by_the_app():
    try:
        httpx.get("http://192.0.2.4/", timeout=0.2)
    except Exception:
        pass  # an app that answers 502 instead: the test must fail all the same


def test_httpx2():
    httpx2.get("https://192.0.2.5/", timeout=0.2)


def test_async_client_by_name():
    async def call():
        async with httpx.AsyncClient(timeout=0.2) as client:
            await client.get("https://api.openrouter.invalid/v1/models")

    asyncio.run(call())


def test_thread_started_by_the_app():
    def work():
        try:
            socket.create_connection(("192.0.2.6", 443), timeout=0.2)
        except Exception:
            pass

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_every_client_is_blocked_with_a_clear_message(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    pytester.makepyfile(test_clients=CLIENTS)
    result = run(pytester, *workers)
    result.assert_outcomes(failed=7)
    name = "test_clients.py"
    for expected in (
        blocked(f"{name}::test_raw_socket", "192.0.2.1:80", f"{name}:13 in test_raw_socket"),
        blocked(
            f"{name}::test_udp_sendto",
            "192.0.2.2:53",
            f"{name}:18 in test_udp_sendto",
        ),
        blocked(f"{name}::test_urllib", "192.0.2.3:8080", f"{name}:22 in test_urllib"),
        blocked(
            f"{name}::test_httpx_caught_by_the_app",
            "192.0.2.4:80",
            f"{name}:27 in test_httpx_caught_by_the_app",
        ),
        blocked(f"{name}::test_httpx2", "192.0.2.5:443", f"{name}:33 in test_httpx2"),
        # resolved in asyncio's executor thread: no frame of ours to point at, no DNS query
        blocked(f"{name}::test_async_client_by_name", "api.openrouter.invalid:443", None),
        blocked(
            f"{name}::test_thread_started_by_the_app",
            "192.0.2.6:443",
            f"{name}:47 in work",
        ),
    ):
        assert_has_lines(result, expected)
    assert "Traceback" not in result.stdout.str()


def test_local_traffic_and_test_transports_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_local="""
        import http.server
        import os
        import socket
        import tempfile
        import threading

        import httpx
        import pytest
        import respx
        from fastapi import FastAPI
        from fastapi.testclient import TestClient

        app = FastAPI()


        @app.get("/ping")
        async def ping():
            return {"pong": True}


        @pytest.fixture
        def server():
            httpd = http.server.ThreadingHTTPServer(
                ("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler
            )
            thread = threading.Thread(target=httpd.serve_forever)
            thread.start()
            yield httpd.server_address[1]
            httpd.shutdown()
            thread.join()


        def test_loopback_by_address_and_name(server):
            for host in ("127.0.0.1", "localhost"):
                assert httpx.get(f"http://{host}:{server}/", timeout=2).status_code == 200


        def test_unix_socket():
            path = os.path.join(tempfile.mkdtemp(), "s")  # tmp_path is too long for AF_UNIX
            listener = socket.socket(socket.AF_UNIX)
            listener.bind(path)
            listener.listen()
            client = socket.socket(socket.AF_UNIX)
            client.connect(path)
            client.close()
            listener.close()


        def test_fastapi_testclient():
            assert TestClient(app).get("/ping").json() == {"pong": True}


        async def call_asgi():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
                return (await c.get("/ping")).json()


        def test_asgi_transport():
            import asyncio

            assert asyncio.run(call_asgi()) == {"pong": True}


        def test_wsgi_transport():
            def wsgi(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"ok"]

            client = httpx.Client(transport=httpx.WSGITransport(app=wsgi))
            assert client.get("http://wsgi.test/").text == "ok"


        @respx.mock
        def test_respx_route():
            respx.get("https://api.example.com/v1").respond(json={"ok": 1})
            assert httpx.get("https://api.example.com/v1").json() == {"ok": 1}
        """
    )
    result = run(pytester, "-W", "error::tenantfixtures.guards.network.NetworkGuardWarning")
    result.assert_outcomes(passed=6)


def test_openrouter_mock_passes_the_guard(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_llm="""
        import httpx


        def test_mocked_completion(openrouter):
            openrouter.script(openrouter.reply("All good"))
            response = httpx.post(
                "https://openrouter.ai/api/v1/chat/completions",
                json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": "Bearer sk-or-v1-0000000000000000"},
            )
            assert response.json()["choices"][0]["message"]["content"] == "All good"
        """
    )
    run(pytester).assert_outcomes(passed=1)


REACH = """
import socket

import pytest

{marker}
def test_reach():
    sock = socket.socket()
    sock.setblocking(False)  # TEST-NET never answers: do not wait for it
    assert sock.connect_ex(("192.0.2.9", 80)) != 0
    sock.close()
"""


@pytest.mark.parametrize(
    ("marker", "ini", "allowed"),
    [
        ('@pytest.mark.allow_network("192.0.2.9")', "", True),
        ("@pytest.mark.allow_network()", "", True),
        ('@pytest.mark.allow_network("192.0.2.9:443", "elsewhere.example")', "", False),
        ("", "tenantfixtures_allowed_hosts =\n    other.example\n    192.0.2.9:80", True),
        ("", "tenantfixtures_allowed_hosts = 192.0.2.10", False),
    ],
    ids=["marker", "bare-marker", "marker-other-port", "ini-host-port", "ini-other-host"],
)
def test_allow_lists(pytester: pytest.Pytester, marker: str, ini: str, allowed: bool) -> None:
    pytester.makepyfile(test_reach=REACH.format(marker=marker))
    pytester.makeini(f"[pytest]\n{ini}\n")
    result = run(pytester)
    if allowed:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        assert_has_lines(
            result,
            blocked("test_reach.py::test_reach", "192.0.2.9:80", "test_reach.py:9 in test_reach"),
        )


def test_warn_mode_lets_the_connection_through_and_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_reach=REACH.format(marker=""))
    result = run(pytester, "--tf-guard=warn")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*NetworkGuardWarning: tenantfixtures network guard: test_reach.py::test_reach"
            " tried to reach the real network: 192.0.2.9:80 (from test_reach.py:9 in test_reach)."
        ]
    )


@pytest.mark.parametrize("how", [["--tf-guard=off"], ["-o", "tenantfixtures_guard=off"]])
def test_off_mode_is_silent(pytester: pytest.Pytester, how: list[str]) -> None:
    pytester.makepyfile(test_reach=REACH.format(marker=""))
    result = run(pytester, *how)
    result.assert_outcomes(passed=1)
    assert "network guard" not in result.stdout.str()


def test_command_line_overrides_the_ini_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_reach=REACH.format(marker=""))
    pytester.makeini("[pytest]\ntenantfixtures_guard = off\n")
    run(pytester, "--tf-guard=fail").assert_outcomes(failed=1)


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--tf-guard=loud"],
            "",
            "ERROR: --tf-guard: 'loud' is not a guard mode; use one of fail, warn, off",
        ),
        (
            [],
            "tenantfixtures_guard = never",
            "ERROR: tenantfixtures_guard: 'never' is not a guard mode; use one of fail, warn, off",
        ),
        (
            [],
            "tenantfixtures_allowed_hosts = api.example.com:http",
            "ERROR: tenantfixtures_allowed_hosts: 'api.example.com:http': the port must be a"
            " number from 1 to 65535",
        ),
    ],
    ids=["option", "ini-mode", "ini-host"],
)
def test_bad_configuration_is_a_usage_error(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    pytester.makeini(f"[pytest]\n{ini}\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.lines
    assert "Traceback" not in result.stderr.str()


def test_bad_marker_fails_the_test_in_setup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.allow_network("https://api.example.com/v1")
        def test_url_instead_of_host():
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    assert_has_lines(
        result,
        [
            "@pytest.mark.allow_network: 'https://api.example.com/v1' is not a host: use host,"
            " host:port or *.domain (subdomains)"
        ],
    )


def test_fixtures_are_guarded_and_secrets_never_shown(pytester: pytest.Pytester) -> None:
    secret = "sk-or-v1-" + "0123456789abcdef" * 4
    pytester.makepyfile(
        test_secret=f'''
        import httpx
        import pytest

        KEY = "{secret}"


        @pytest.fixture
        def warmed_up_cache():
            httpx.get("http://192.0.2.11/", timeout=0.2)


        def test_setup_phase(warmed_up_cache):
            pass


        def test_app_reports_its_own_error():
            headers = {{"Authorization": f"Bearer {{KEY}}", "X-Title": "Council"}}
            try:
                httpx.get("http://192.0.2.12/", headers=headers, params={{"api_key": KEY}})
            except Exception:
                raise AssertionError(f"upstream failed; sent {{headers}} with key={{KEY}}")
        '''
    )
    result = run(pytester)
    result.assert_outcomes(errors=1, failed=1)
    assert_has_lines(
        result,
        blocked(
            "test_secret.py::test_setup_phase",
            "192.0.2.11:80",
            "test_secret.py:9 in warmed_up_cache",
        ),
    )
    assert_has_lines(
        result,
        [
            "(the test then failed with AssertionError: upstream failed; sent"
            " {'Authorization': 'Bearer …REDACTED', 'X-Title': 'Council'} with key=sk-…REDACTED)"
        ],
    )
    output = result.stdout.str() + result.stderr.str()
    assert "0123456789abcdef" not in output


# Unit level: the allow-list rules and the name/address bookkeeping, without sockets.


@pytest.mark.parametrize(
    ("entry", "host", "port", "allowed"),
    [
        ("api.example.com", "api.example.com", 443, True),
        ("API.Example.com.", "api.example.com", 80, True),
        ("api.example.com:8443", "api.example.com", 443, False),
        ("*.example.com", "eu.api.example.com", 443, True),
        ("*.example.com", "example.com", 443, False),
        ("*.example.com", "badexample.com", 443, False),
        ("[2001:db8::1]:443", "2001:db8::1", 443, True),
        ("2001:db8::1", "2001:db8::1", 80, True),
        ("*", "anything.example", 1, True),
    ],
)
def test_allow_rule_matching(entry: str, host: str, port: int, allowed: bool) -> None:
    assert AllowRule.parse(entry).matches(host, port) is allowed


@pytest.mark.parametrize(
    "entry", ["", "api.*.com", "user@host", "host:0", "host:99999", "[::1", "a b", "http://x"]
)
def test_allow_rule_rejects_what_is_not_a_host(entry: str) -> None:
    with pytest.raises(ValueError, match="ini"):
        parse_rules([entry], "ini")


def test_a_name_allows_the_addresses_it_resolved_to() -> None:
    guard = NetworkGuard("t::x", "fail", parse_rules(["*.example.com:443"], "ini"))
    guard.remember("API.example.com", [(socket.AF_INET, 1, 6, "", ("192.0.2.7", 443))])
    guard.check_address(socket.AF_INET, ("192.0.2.7", 443))
    with pytest.raises(NetworkBlockedError, match=r"api\.example\.com:8443 \(192\.0\.2\.7\)"):
        guard.check_address(socket.AF_INET, ("192.0.2.7", 8443))
    with pytest.raises(NetworkBlockedError, match=r"192\.0\.2\.8:443\b"):
        guard.check_address(socket.AF_INET, ("192.0.2.8", 443))
    assert [str(d) for d, _ in guard.violations] == [
        "api.example.com:8443 (192.0.2.7)",
        "192.0.2.8:443",
    ]


def test_local_destinations_never_count() -> None:
    guard = NetworkGuard("t::x", "fail", ())
    for family, address in [
        (socket.AF_INET, ("127.0.0.5", 80)),
        (socket.AF_INET, ("0.0.0.0", 80)),
        (socket.AF_INET6, ("::1", 80, 0, 0)),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 80, 0, 0)),
        (socket.AF_INET, ("localhost", 80)),
        (socket.AF_INET, ("app.localhost", 80)),
        (socket.AF_UNIX, "/tmp/socket"),
    ]:
        guard.check_address(family, address)
    guard.check_name("localhost", None)
    assert guard.violations == []


def test_warn_mode_records_once_per_place() -> None:
    guard = NetworkGuard("t::x", "warn", ())
    guard.check_name("api.example.com", None)
    guard.remember("api.example.com", [(socket.AF_INET, 1, 6, "", ("192.0.2.7", 443))])
    guard.check_address(socket.AF_INET, ("192.0.2.7", 443))
    guard.check_address(socket.AF_INET, ("192.0.2.7", 443))
    assert guard.violations[0][0] == Destination("api.example.com", None, None)
    assert len(guard.violations) == 1
