"""The network guard, through inner pytest sessions: it fires, it stays silent, it is configurable.

Blocked destinations are TEST-NET-2/3 addresses (198.51.100.0/24, 203.0.113.0/24, RFC 5737) and
``.invalid`` names: the guard stops them before a packet or a DNS query leaves; nothing real is
ever contacted. (Never TEST-NET-1, 192.0.2.0/24: on CI machines it can be the local network.)
"""

from __future__ import annotations

import re
import socket

import pytest

from tenantfixtures.guards.network import (
    AllowRule,
    Destination,
    NetworkBlockedError,
    NetworkGuard,
    parse_rules,
)
from tests.conftest import run_offline

HINT = (
    "Mock it (the `openrouter` fixture, or respx routes), or allow it:"
    ' @pytest.mark.allow_network("{host}") on the test, or'
    " `tenantfixtures_allowed_hosts = {host}` in the ini file"
    " (--tf-guard=warn only warns, --tf-guard=off disables the guard)."
)


def blocked(test: str, where: str, line: str | None) -> list[str]:
    """The exact message (the violation log's style) for a test that reached ``where``."""
    host = where.split(":")[0]
    return [
        f"network guard: {test} tried to reach the real network: {where}.",
        HINT.format(host=host),
        *([f"  (from {line})"] if line else []),
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
    sock.connect(("203.0.113.1", 80))


def test_udp_sendto():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(b"x", ("203.0.113.2", 53))


def test_urllib():
    urllib.request.urlopen("http://203.0.113.3:8080/", timeout=0.2)


def test_httpx_caught_by_the_app():
    try:
        httpx.get("http://203.0.113.4/", timeout=0.2)
    except Exception:
        pass  # an app that answers 502 instead: the test must fail all the same


def test_httpx2():
    httpx2.get("https://203.0.113.5/", timeout=0.2)


def test_async_client_by_name():
    async def call():
        async with httpx.AsyncClient(timeout=0.2) as client:
            await client.get("https://api.openrouter.invalid/v1/models")

    asyncio.run(call())


def test_thread_started_by_the_app():
    def work():
        try:
            socket.create_connection(("203.0.113.6", 443), timeout=0.2)
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
        blocked(f"{name}::test_raw_socket", "203.0.113.1:80", f"{name}:13 in test_raw_socket"),
        blocked(
            f"{name}::test_udp_sendto",
            "203.0.113.2:53",
            f"{name}:18 in test_udp_sendto",
        ),
        blocked(f"{name}::test_urllib", "203.0.113.3:8080", f"{name}:22 in test_urllib"),
        blocked(
            f"{name}::test_httpx_caught_by_the_app",
            "203.0.113.4:80",
            f"{name}:27 in test_httpx_caught_by_the_app",
        ),
        blocked(f"{name}::test_httpx2", "203.0.113.5:443", f"{name}:33 in test_httpx2"),
        # resolved in asyncio's executor thread: named by the coroutine that awaited it
        blocked(
            f"{name}::test_async_client_by_name",
            "api.openrouter.invalid:443",
            f"{name}:39 in call",
        ),
        blocked(
            f"{name}::test_thread_started_by_the_app",
            "203.0.113.6:443",
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
    result = run(pytester, "-W", "error::tenantfixtures.guards.violations.GuardViolationWarning")
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
    assert sock.connect_ex(("203.0.113.9", 80)) != 0
    sock.close()
"""


@pytest.mark.parametrize(
    ("marker", "ini", "allowed"),
    [
        ('@pytest.mark.allow_network("203.0.113.9")', "", True),
        ("@pytest.mark.allow_network()", "", True),
        ('@pytest.mark.allow_network("203.0.113.9:443", "elsewhere.example")', "", False),
        ("", "tenantfixtures_allowed_hosts =\n    other.example\n    203.0.113.9:80", True),
        ("", "tenantfixtures_allowed_hosts = 203.0.113.10", False),
    ],
    ids=["marker", "bare-marker", "marker-other-port", "ini-host-port", "ini-other-host"],
)
def test_allow_lists(pytester: pytest.Pytester, marker: str, ini: str, allowed: bool) -> None:
    pytester.makepyfile(test_reach=REACH.format(marker=marker))
    pytester.makeini(f"[pytest]\n{ini}\n")
    result = run_offline(pytester)
    if allowed:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        assert_has_lines(
            result,
            blocked("test_reach.py::test_reach", "203.0.113.9:80", "test_reach.py:8 in test_reach"),
        )


def test_warn_mode_lets_the_connection_through_and_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_reach=REACH.format(marker=""))
    result = run_offline(pytester, "--tf-guard=warn")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*GuardViolationWarning: network guard: test_reach.py::test_reach"
            " tried to reach the real network: 203.0.113.9:80.",
            "*Mock it *",
            "*  (from test_reach.py:8 in test_reach)",
        ]
    )


@pytest.mark.parametrize("how", [["--tf-guard=off"], ["-o", "tenantfixtures_guard=off"]])
def test_off_mode_is_silent(pytester: pytest.Pytester, how: list[str]) -> None:
    pytester.makepyfile(test_reach=REACH.format(marker=""))
    result = run_offline(pytester, *how)
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
            httpx.get("http://203.0.113.11/", timeout=0.2)


        def test_setup_phase(warmed_up_cache):
            pass


        def test_app_reports_its_own_error():
            headers = {{"Authorization": f"Bearer {{KEY}}", "X-Title": "Council"}}
            try:
                httpx.get("http://203.0.113.12/", headers=headers, params={{"api_key": KEY}})
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
            "203.0.113.11:80",
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
    guard.remember("API.example.com", [(socket.AF_INET, 1, 6, "", ("203.0.113.7", 443))])
    guard.check_address(socket.AF_INET, ("203.0.113.7", 443))
    with pytest.raises(NetworkBlockedError, match=r"api\.example\.com:8443 \(203\.0\.113\.7\)"):
        guard.check_address(socket.AF_INET, ("203.0.113.7", 8443))
    with pytest.raises(NetworkBlockedError, match=r"203\.0\.113\.8:443\b"):
        guard.check_address(socket.AF_INET, ("203.0.113.8", 443))
    assert [str(d) for d in guard.reached] == [
        "api.example.com:8443 (203.0.113.7)",
        "203.0.113.8:443",
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
    assert guard.reached == []


def test_warn_mode_records_once_per_place() -> None:
    guard = NetworkGuard("t::x", "warn", ())
    guard.check_name("api.example.com", None)
    guard.remember("api.example.com", [(socket.AF_INET, 1, 6, "", ("203.0.113.7", 443))])
    guard.check_address(socket.AF_INET, ("203.0.113.7", 443))
    guard.check_address(socket.AF_INET, ("203.0.113.7", 443))
    assert guard.reached == [Destination("api.example.com", None, None)]


# Lookups, UDP, ``_socket``, loopback spellings and executor call sites (issue 10). The blocked
# destinations are TEST-NET-2/3 addresses (198.51.100.0/24, 203.0.113.0/24) and ``.invalid``
# names; each is refused before a packet or a query leaves.

LOOKUPS = """
import socket


def test_gethostbyname():
    socket.gethostbyname("db.example.invalid")


def test_gethostbyname_ex():
    socket.gethostbyname_ex("mail.example.invalid")


def test_gethostbyaddr():
    socket.gethostbyaddr("198.51.100.20")


def test_getnameinfo():
    socket.getnameinfo(("198.51.100.21", 80), 0)


def test_getfqdn_of_a_remote_host():
    socket.getfqdn("198.51.100.22")


def test_local_lookups_pass():
    assert socket.gethostbyname("localhost").startswith("127.")
    socket.gethostbyname_ex("localhost")
    socket.gethostbyaddr("127.0.0.1")
    socket.getnameinfo(("127.0.0.1", 80), 0)
    # NI_NUMERICHOST asks nothing of DNS: formatting a remote address is not traffic
    assert socket.getnameinfo(("198.51.100.23", 80), socket.NI_NUMERICHOST)[0] == "198.51.100.23"
"""


def test_dns_lookups_are_refused_before_the_query(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_lookups=LOOKUPS)
    result = run(pytester)
    result.assert_outcomes(failed=5, passed=1)
    name = "test_lookups.py"
    for test, where, line in [
        ("test_gethostbyname", "db.example.invalid", 5),
        ("test_gethostbyname_ex", "mail.example.invalid", 9),
        ("test_gethostbyaddr", "198.51.100.20", 13),
        ("test_getnameinfo", "198.51.100.21", 17),
        ("test_getfqdn_of_a_remote_host", "198.51.100.22", 21),
    ]:
        assert_has_lines(result, blocked(f"{name}::{test}", where, f"{name}:{line} in {test}"))


UDP = """
import socket

import pytest


def udp():
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def test_sendmsg_to_an_address():
    udp().sendmsg([b"x"], [], 0, ("198.51.100.30", 53))


def test_send_on_a_connected_socket():
    sock = udp()
    sock.connect(("198.51.100.31", 53))  # sends nothing: not yet a violation
    sock.send(b"x")


def test_sendall_on_a_connected_socket():
    sock = udp()
    sock.connect(("198.51.100.32", 53))
    sock.sendall(b"x")


def test_sendmsg_on_a_connected_socket():
    sock = udp()
    sock.connect(("198.51.100.33", 53))
    sock.sendmsg([b"x"])


def test_connect_by_name_is_a_dns_query():
    udp().connect(("ntp.example.invalid", 123))


def test_connect_to_learn_my_local_ip():
    sock = udp()
    try:
        sock.connect(("203.0.113.1", 80))  # no packet: the kernel only picks a route
    except OSError:
        pytest.skip("no route on this machine")  # still no guard violation
    assert sock.getsockname()[0]
    sock.close()


def test_udp_on_loopback():
    server = udp()
    server.bind(("127.0.0.1", 0))
    client = udp()
    client.connect(server.getsockname())
    client.send(b"ping")
    client.sendmsg([b"pong"])
    assert server.recv(10) == b"ping"
"""


def test_udp_sends_are_refused_but_a_udp_connect_is_not(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_udp=UDP)
    result = run(pytester, "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 5
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 2
    name = "test_udp.py"
    for test, where, line in [
        ("test_sendmsg_to_an_address", "198.51.100.30:53", 11),
        ("test_send_on_a_connected_socket", "198.51.100.31:53", 17),
        ("test_sendall_on_a_connected_socket", "198.51.100.32:53", 23),
        ("test_sendmsg_on_a_connected_socket", "198.51.100.33:53", 29),
        ("test_connect_by_name_is_a_dns_query", "ntp.example.invalid:123", 33),
    ]:
        assert_has_lines(result, blocked(f"{name}::{test}", where, f"{name}:{line} in {test}"))
    assert "test_connect_to_learn_my_local_ip" not in "".join(
        line for line in result.stdout.lines if line.startswith("FAILED")
    )


RAW_SOCKET_MODULE = """
import socket

import _socket


def test_c_socket_connect():
    sock = _socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(0.2)
    sock.connect(("203.0.113.40", 80))


def test_c_socket_connect_ex():
    sock = _socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.connect_ex(("203.0.113.41", 80))


def test_c_socket_sendto():
    _socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("203.0.113.42", 53))


def test_c_socket_sendmsg_connected():
    sock = _socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("203.0.113.43", 53))
    sock.sendmsg([b"x"])


def test_c_getaddrinfo():
    _socket.getaddrinfo("api.example.invalid", 443)


def test_c_gethostbyname():
    _socket.gethostbyname("db.example.invalid")


def test_c_gethostbyaddr():
    _socket.gethostbyaddr("203.0.113.44")


def test_c_socket_on_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = _socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(server.getsockname())
    client.close()
    server.close()
"""


def test_the_c_socket_module_used_directly_is_guarded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_c_socket=RAW_SOCKET_MODULE)
    result = run(pytester)
    result.assert_outcomes(failed=7, passed=1)
    name = "test_c_socket.py"
    for test, where, line in [
        ("test_c_socket_connect", "203.0.113.40:80", 9),
        ("test_c_socket_connect_ex", "203.0.113.41:80", 15),
        ("test_c_socket_sendto", "203.0.113.42:53", 19),
        ("test_c_socket_sendmsg_connected", "203.0.113.43:53", 25),
        ("test_c_getaddrinfo", "api.example.invalid:443", 29),
        ("test_c_gethostbyname", "db.example.invalid", 33),
        ("test_c_gethostbyaddr", "203.0.113.44", 37),
    ]:
        assert_has_lines(result, blocked(f"{name}::{test}", where, f"{name}:{line} in {test}"))


LOOPBACK = """
import http.server
import threading

import socket

import httpx
import pytest


@pytest.fixture(scope="module")
def port():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    thread.join()


@pytest.mark.parametrize("host", ["127.1", "127.0.0.1", "localhost"])
def test_http_to_loopback(port, host):
    assert httpx.get(f"http://{host}:{port}/", timeout=2).status_code == 200


@pytest.mark.parametrize("host", ["127.1", "0177.0.0.1", "0x7f.1", "2130706433"])
def test_socket_to_loopback(port, host):
    socket.create_connection((host, port), timeout=2).close()
    sock = socket.socket()
    sock.connect((host, port))
    sock.close()
"""


def test_every_spelling_of_loopback_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_loopback=LOOPBACK)
    run(pytester).assert_outcomes(passed=7)


EXECUTOR = """
import asyncio
import socket


async def resolve_in_the_default_executor():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, socket.getaddrinfo, "a.example.invalid", 443)


async def resolve_with_to_thread():
    await asyncio.to_thread(socket.gethostbyname, "b.example.invalid")


async def resolve_with_the_loop():
    await asyncio.get_running_loop().getaddrinfo("c.example.invalid", 80)


def test_run_in_executor():
    asyncio.run(resolve_in_the_default_executor())


def test_to_thread():
    asyncio.run(resolve_with_to_thread())


def test_loop_getaddrinfo():
    asyncio.run(resolve_with_the_loop())
"""


def test_executor_lookups_name_the_coroutine_that_awaited_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_executor=EXECUTOR)
    result = run(pytester)
    result.assert_outcomes(failed=3)
    name = "test_executor.py"
    for test, where, line, coroutine in [
        ("test_run_in_executor", "a.example.invalid:443", 7, "resolve_in_the_default_executor"),
        ("test_to_thread", "b.example.invalid", 11, "resolve_with_to_thread"),
        ("test_loop_getaddrinfo", "c.example.invalid:80", 15, "resolve_with_the_loop"),
    ]:
        assert_has_lines(result, blocked(f"{name}::{test}", where, f"{name}:{line} in {coroutine}"))


@pytest.mark.parametrize(
    ("family", "host"),
    [
        (socket.AF_INET, "127.1"),
        (socket.AF_INET, "127.0.0.1"),
        (socket.AF_INET, "127.255.255.254"),
        (socket.AF_INET, "0177.0.0.1"),
        (socket.AF_INET, "0x7f.0.0.1"),
        (socket.AF_INET, "2130706433"),
        (socket.AF_INET, "localhost"),
        (socket.AF_INET6, "::1"),
        (socket.AF_INET6, "::ffff:127.0.0.1"),
    ],
)
def test_loopback_in_every_spelling_is_local(family: int, host: str) -> None:
    guard = NetworkGuard("t::x", "fail", ())
    guard.check_address(family, (host, 80))
    guard.check_connect(family, socket.SOCK_STREAM, (host, 80))
    guard.check_name(host, 80)
    guard.check_lookup(host)
    assert guard.reached == []


@pytest.mark.parametrize(
    ("host", "shown"),
    [("010.0.0.1", "8.0.0.1"), ("0xc6.51.100.1", "198.51.100.1"), ("3325256705", "198.51.100.1")],
)
def test_shorthand_addresses_are_read_as_the_c_library_reads_them(host: str, shown: str) -> None:
    guard = NetworkGuard("t::x", "fail", ())
    with pytest.raises(NetworkBlockedError, match=rf"network: {re.escape(shown)}:80\b"):
        guard.check_address(socket.AF_INET, (host, 80))


def test_a_udp_connect_to_an_address_is_not_traffic_but_its_sends_are() -> None:
    guard = NetworkGuard("t::x", "fail", ())
    guard.check_connect(socket.AF_INET, socket.SOCK_DGRAM, ("203.0.113.1", 80))
    guard.check_connect(socket.AF_INET6, socket.SOCK_DGRAM, ("2001:db8::1", 80, 0, 0))
    assert guard.reached == []
    with pytest.raises(NetworkBlockedError, match=r"udp\.example\.invalid:53"):
        guard.check_connect(socket.AF_INET, socket.SOCK_DGRAM, ("udp.example.invalid", 53))
    with pytest.raises(NetworkBlockedError, match=r"203\.0\.113\.1:80"):
        guard.check_connect(socket.AF_INET, socket.SOCK_STREAM, ("203.0.113.1", 80))
