"""Security proof (issue 10): secret placements by outputs, network calls by expected verdicts.

Each walk tries every row through the real API and sorts its result into one of:

* **refused with a clear error**: the secret is gone and ``…REDACTED`` marks where it was; the
  network call failed the test with the guard's message naming the destination and call site;
* **allowed as expected**: ordinary text left unchanged, loopback/Unix/no-packet calls passing;
* **leaked**: 16 consecutive characters of a secret's random part survived, or a call that must
  be refused was not (or was refused without the guard's message);
* **crashed**: an exception from our code, an output that no longer parses, a JSON key lost or
  renamed, ordinary text altered, an allowed call refused, an INTERNALERROR.

Each walk asserts ``leaked == 0`` and ``crashed == 0`` and records its counts; the terminal
summary (``conftest.py``) prints the totals, also under xdist.

Network rows only use TEST-NET-2/3 addresses (198.51.100.0/24, 203.0.113.0/24), ``.invalid``
names and loopback; the one TEST-NET-1 row (``192.0.2.1``) is a UDP ``connect``, which sends
nothing.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from functools import partial
from urllib.parse import quote

import pytest
from _pytest._io.saferepr import saferepr

from tenantfixtures.guards.network import NetworkBlockedError, NetworkGuard
from tenantfixtures.redact import MARK, redact, redact_json

from .conftest import record_counts

HEX = "9f3b6c1d2e4a5b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"

# name -> (the secret as it appears, its random part: what must never survive)
KEYS: dict[str, tuple[str, str]] = {
    "openrouter": (f"sk-or-v1-{HEX}", HEX),
    "openai-project": (
        "sk-proj-Zx9Kq2Lm5Np8Rs1Tu4Vw7Yz0Ab3Cd6Ef9Gh2Ij5Kl8",
        "Zx9Kq2Lm5Np8Rs1Tu4Vw7Yz0Ab3Cd6",
    ),
    "anthropic": (
        "sk-ant-api03-Qw3Er6Ty9Ui2Op5As8Df1Gh4Jk7Lz0Xc3",
        "Qw3Er6Ty9Ui2Op5As8Df1Gh4Jk7Lz0Xc3",
    ),
    "openai-legacy": (
        "sk-" + "Mn4Bv7Cx0Za3Sd6Fg9Hj2Kl5Qw8Er1Ty4Ui7Op0As3Df6Gh9Jk",
        "Mn4Bv7Cx0Za3Sd6Fg9Hj2Kl5Qw8Er1",
    ),
}
# Secrets with no shape of their own: only their field, header or URL position names them.
NAMED: dict[str, tuple[str, str]] = {
    "jwt": (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlXzEyMzQ1Njc4",
        "eyJzdWIiOiIxMjM0In0",
    ),
    "oauth-secret": ("cs_live_7Hq2Wm9Xp4Rt6Yv1Zb3Nc8", "7Hq2Wm9Xp4Rt6Yv1Zb3Nc8"),
    "password": ("Tr0ub4dor&3-horse@battery", "Tr0ub4dor&3-horse"),
}


def _key_outputs(secret: str) -> dict[str, Callable[[], object]]:
    """Every output a key-shaped secret can end up in."""
    report = {"nodeid": f"tests/test_x.py::test_call[{secret}]", "classification": "flaky"}
    body = {"model": "m", "messages": [{"role": "user", "content": f"key {secret}"}]}
    return {
        "node id": lambda: redact(f"tests/test_x.py::test_call[{secret}]"),
        "node id, glued": lambda: redact(f"tests/test_x.py::test_call[model{secret}]"),
        "node id, pytest id": lambda: redact(f"test_call[{secret}-gpt-4o]"),
        "failure message": lambda: redact(_assertion_message(secret)),
        "exception text": lambda: redact(f"RuntimeError: upstream rejected key{secret}"),
        "JSON body (text)": lambda: redact(json.dumps(body)),
        "JSON body (redact_json)": lambda: _dumps(redact_json(body)),
        "JSON report (text)": lambda: _parsed(redact(json.dumps({"tests": [report]}, indent=2))),
        "JSON report (redact_json)": lambda: _dumps(redact_json({"tests": [report]})),
        "URL query": lambda: redact(f"GET https://openrouter.ai/api/v1/models?key={secret}&x=1"),
        "Authorization header": lambda: redact(f"Authorization: Bearer {secret}"),
        "headers repr": lambda: redact(repr({"authorization": f"Bearer {secret}", "x": "y"})),
        "ASGI headers": lambda: redact(repr([(b"x-api-key", secret.encode()), (b"host", b"h")])),
        "guard message": lambda: _guard_message(f"tests/test_x.py::test_call[{secret}]"),
    }


def _named_outputs(secret: str) -> dict[str, Callable[[], object]]:
    """Every output where a field, header or URL position says the value is secret."""
    return {
        "JSON client_secret": lambda: redact(json.dumps({"client_secret": secret, "n": 1})),
        "JSON access_token, nested": lambda: redact(
            json.dumps({"auth": {"access_token": secret}, "n": 1}, indent=2)
        ),
        "redact_json client_secret": lambda: _dumps(redact_json({"client_secret": secret})),
        "redact_json access_token": lambda: _dumps(
            redact_json({"a": [{"access_token": {"value": secret}}]})
        ),
        "key=value": lambda: redact(f"client_secret={secret} access_token={secret}"),
        "query string": lambda: redact(f"/token?client_secret={quote(secret)}&grant=x"),
        "URL password": lambda: redact(f"postgresql+psycopg://tf:{quote(secret, safe='')}@db/x"),
        "URL password, raw": lambda: redact(f"postgresql+psycopg://tf:{secret}@db/x"),
        "Authorization header": lambda: redact(f"Authorization: Bearer {secret}"),
        "Cookie header": lambda: redact(f"Cookie: session={secret}; theme=dark"),
        "env line": lambda: redact(f"DB_PASSWORD={secret}\nOPENROUTER_API_KEY={secret}"),
        "python repr": lambda: redact(repr({"password": secret, "user": "tf"})),
    }


# Ordinary text (including test names that look like secret fields) must come out unchanged.
ORDINARY: dict[str, Callable[[], object]] = {
    "words ending in sk": lambda: redact("task-list disk-usage risk-assessment-report ask-me"),
    "report with secret-looking test names": lambda: _parsed(
        redact(
            json.dumps(
                {
                    "tests": [
                        {"nodeid": "tests/test_x.py::test_get_settings_no_api_key", "c": "flaky"},
                        {"nodeid": "tests/test_x.py::test_jwt_token", "classification": "ok"},
                        {"nodeid": "tests/test_x.py::TestApiKey::test_y", "classification": "ok"},
                    ]
                },
                indent=2,
            )
        )
    ),
    "usage counters": lambda: redact('{"usage": {"prompt_tokens": 1}, "max_tokens": 5}'),
    "URL without password": lambda: redact("http://host:8080/x?page=2 user@example.com"),
    "redact_json of a report": lambda: redact_json(
        {"nodeid": "t.py::test_token", "classification": "flaky", "max_tokens": 3}
    ),
}
ORDINARY_EXPECTED: dict[str, object] = {
    "words ending in sk": "task-list disk-usage risk-assessment-report ask-me",
    "report with secret-looking test names": {
        "tests": [
            {"nodeid": "tests/test_x.py::test_get_settings_no_api_key", "c": "flaky"},
            {"nodeid": "tests/test_x.py::test_jwt_token", "classification": "ok"},
            {"nodeid": "tests/test_x.py::TestApiKey::test_y", "classification": "ok"},
        ]
    },
    "usage counters": '{"usage": {"prompt_tokens": 1}, "max_tokens": 5}',
    "URL without password": "http://host:8080/x?page=2 user@example.com",
    "redact_json of a report": {
        "nodeid": "t.py::test_token",
        "classification": "flaky",
        "max_tokens": 3,
    },
}


def _assertion_message(secret: str) -> str:
    """pytest's own assertion text for a test that compared the key."""
    expected = "sk-expected"
    with pytest.raises(AssertionError) as failure:
        assert secret == expected
    return failure.exconly()


def _truncations(secret: str) -> list[str]:
    """pytest's saferepr of long values holding the key, cut at many places."""
    cuts = []
    for before in range(0, 80, 9):
        for after in range(0, 80, 9):
            cuts.append(saferepr("a" * before + secret + "z" * after, maxsize=60))
    return cuts


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _parsed(text: str) -> object:
    return json.loads(text)  # a report that no longer parses is a crash, not a redaction


def _guard_message(nodeid: str) -> str:
    guard = NetworkGuard(nodeid, "fail", ())
    try:
        guard.check_address(2, ("203.0.113.9", 443))
    except NetworkBlockedError as refused:
        return str(refused)
    raise AssertionError("the guard let 203.0.113.9 through")


def _leaks(output: str, random_part: str) -> bool:
    return any(random_part[i : i + 16] in output for i in range(len(random_part) - 15))


def test_secret_placements_times_outputs(record_property: Callable[[str, object], None]) -> None:
    counts: Counter[str] = Counter()
    problems: list[str] = []

    def judge(row: str, produce: Callable[[], object], random_part: str) -> None:
        try:
            output = produce()
        except Exception as exc:
            counts["crashed"] += 1
            problems.append(f"crashed: {row}: {type(exc).__name__}: {exc}")
            return
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        if _leaks(text, random_part):
            counts["leaked"] += 1
            problems.append(f"leaked: {row}: {text}")
        elif MARK in text:
            counts["refused"] += 1
        else:
            counts["crashed"] += 1
            problems.append(f"no visible mark: {row}: {text}")

    for kind, (secret, random_part) in KEYS.items():
        for output, produce in _key_outputs(secret).items():
            judge(f"{kind} in {output}", produce, random_part)
        for number, cut in enumerate(_truncations(secret)):
            if _leaks(cut, random_part):  # enough of the key is in there to matter
                judge(f"{kind} in truncated repr #{number}", partial(redact, cut), random_part)
    for kind, (secret, random_part) in NAMED.items():
        for output, produce in _named_outputs(secret).items():
            judge(f"{kind} in {output}", produce, random_part)
    for row, produce in ORDINARY.items():
        try:
            kept = produce() == ORDINARY_EXPECTED[row]
        except Exception as exc:
            kept = False
            problems.append(f"crashed: {row}: {type(exc).__name__}: {exc}")
        counts["allowed" if kept else "crashed"] += 1
        if not kept:
            problems.append(f"ordinary text changed: {row}: {produce()!r}")
    record_counts(record_property, counts, problems)


# Network calls, each a test of one inner session: (name, expected verdict, body).
REFUSED, ALLOWED = "refused", "allowed"
NETWORK: list[tuple[str, str, str]] = [
    (
        "tcp_connect",
        REFUSED,
        's = socket.socket(); s.settimeout(0.2); s.connect(("198.51.100.50", 80))',
    ),
    (
        "tcp_connect_ex",
        REFUSED,
        's = socket.socket(); s.setblocking(False); s.connect_ex(("198.51.100.51", 80))',
    ),
    (
        "tcp_octal_shorthand",
        REFUSED,
        's = socket.socket(); s.settimeout(0.2); s.connect(("0306.51.100.52", 80))',
    ),
    (
        "tcp_integer_address",
        REFUSED,
        's = socket.socket(); s.settimeout(0.2); s.connect(("3325256754", 80))',
    ),
    (
        "create_connection_by_name",
        REFUSED,
        'socket.create_connection(("api.example.invalid", 443), timeout=0.2)',
    ),
    ("getaddrinfo", REFUSED, 'socket.getaddrinfo("db.example.invalid", 5432)'),
    ("gethostbyname", REFUSED, 'socket.gethostbyname("db.example.invalid")'),
    ("gethostbyname_ex", REFUSED, 'socket.gethostbyname_ex("db.example.invalid")'),
    ("gethostbyaddr", REFUSED, 'socket.gethostbyaddr("203.0.113.53")'),
    ("getnameinfo", REFUSED, 'socket.getnameinfo(("203.0.113.54", 443), 0)'),
    ("getfqdn", REFUSED, 'socket.getfqdn("203.0.113.55")'),
    ("udp_sendto", REFUSED, 'udp().sendto(b"x", ("203.0.113.56", 53))'),
    ("udp_sendmsg", REFUSED, 'udp().sendmsg([b"x"], [], 0, ("203.0.113.57", 53))'),
    ("udp_connected_send", REFUSED, 's = udp(); s.connect(("203.0.113.58", 53)); s.send(b"x")'),
    (
        "udp_connected_sendall",
        REFUSED,
        's = udp(); s.connect(("203.0.113.59", 53)); s.sendall(b"x")',
    ),
    (
        "udp_connected_sendmsg",
        REFUSED,
        's = udp(); s.connect(("203.0.113.60", 53)); s.sendmsg([b"x"])',
    ),
    ("udp_connect_by_name", REFUSED, 'udp().connect(("ntp.example.invalid", 123))'),
    (
        "c_socket_connect",
        REFUSED,
        's = _socket.socket(); s.settimeout(0.2); s.connect(("203.0.113.61", 80))',
    ),
    ("c_socket_sendto", REFUSED, '_socket.socket(2, 2).sendto(b"x", ("203.0.113.62", 53))'),
    (
        "c_socket_sendmsg",
        REFUSED,
        's = _socket.socket(2, 2); s.connect(("203.0.113.63", 53)); s.sendmsg([b"x"])',
    ),
    ("c_getaddrinfo", REFUSED, '_socket.getaddrinfo("c.example.invalid", 80)'),
    ("c_gethostbyname", REFUSED, '_socket.gethostbyname("c.example.invalid")'),
    ("c_getnameinfo", REFUSED, '_socket.getnameinfo(("203.0.113.64", 80), 0)'),
    ("httpx", REFUSED, 'httpx.get("http://203.0.113.65/", timeout=0.2)'),
    (
        "httpx_by_name_swallowed",
        REFUSED,
        'try:\n    httpx.get("https://api.example.invalid/")\nexcept Exception:\n    pass',
    ),
    ("urllib", REFUSED, 'urllib.request.urlopen("http://203.0.113.66:8080/", timeout=0.2)'),
    (
        "http_client",
        REFUSED,
        'c = http.client.HTTPConnection("203.0.113.67", timeout=0.2); c.request("GET", "/")',
    ),
    ("asyncio_by_address", REFUSED, 'asyncio.run(asyncio.open_connection("203.0.113.68", 80))'),
    ("asyncio_by_name", REFUSED, 'asyncio.run(asyncio.open_connection("a.example.invalid", 80))'),
    ("asyncio_udp_transport", REFUSED, "asyncio.run(udp_transport())"),
    (
        "to_thread_lookup",
        REFUSED,
        'asyncio.run(asyncio.to_thread(socket.gethostbyname, "t.example.invalid"))',
    ),
    ("thread", REFUSED, "t = threading.Thread(target=reach); t.start(); t.join()"),
    ("loopback_127_0_0_1", ALLOWED, 'socket.create_connection(("127.0.0.1", server)).close()'),
    ("loopback_127_1", ALLOWED, 'socket.create_connection(("127.1", server)).close()'),
    ("loopback_localhost", ALLOWED, 'socket.create_connection(("localhost", server)).close()'),
    (
        "loopback_127_255_255_254",
        ALLOWED,
        's = udp(); s.connect(("127.255.255.254", 9)); s.send(b"x")',
    ),
    ("loopback_ipv6", ALLOWED, "ipv6_loopback()"),
    ("loopback_httpx", ALLOWED, 'assert httpx.get(f"http://127.1:{server}/").status_code == 200'),
    (
        "c_socket_loopback",
        ALLOWED,
        's = _socket.socket(); s.connect(("127.0.0.1", server)); s.close()',
    ),
    (
        "udp_connect_to_learn_my_ip",
        ALLOWED,
        's = udp(); s.connect(("192.0.2.1", 80)); s.getsockname()',
    ),
    ("unix_socket", ALLOWED, "unix_pair()"),
    (
        "numeric_getnameinfo",
        ALLOWED,
        'socket.getnameinfo(("203.0.113.69", 80), socket.NI_NUMERICHOST)',
    ),
    (
        "local_lookups",
        ALLOWED,
        'socket.gethostbyname("localhost"); socket.gethostbyaddr("127.0.0.1")',
    ),
]

NETWORK_PRELUDE = """
import asyncio
import http.client
import http.server
import os
import socket
import tempfile
import threading
import urllib.request

import _socket
import httpx
import pytest


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    thread.join()


def udp():
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def reach():
    socket.create_connection(("203.0.113.70", 443), timeout=0.2)


async def udp_transport():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=("203.0.113.71", 53)
    )
    transport.sendto(b"x")  # asyncio swallows the error: the guard fails the test anyway
    transport.close()


def ipv6_loopback():
    try:
        listener = socket.socket(socket.AF_INET6)
        listener.bind(("::1", 0))
    except OSError:
        return  # no IPv6 on this machine: nothing to try
    listener.listen()
    socket.create_connection(("::1", listener.getsockname()[1])).close()
    listener.close()


def unix_pair():
    path = os.path.join(tempfile.mkdtemp(), "s")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    client = socket.socket(socket.AF_UNIX)
    client.connect(path)
    client.close()
    listener.close()
"""


def _network_module() -> str:
    tests = []
    for name, _verdict, body in NETWORK:
        fixture = "server" if "server" in body else ""
        tests.append(f"\n\ndef test_{name}({fixture}):\n{textwrap.indent(body, '    ')}\n")
    return textwrap.dedent(NETWORK_PRELUDE) + "".join(tests)


def test_network_calls_times_verdicts(
    pytester: pytest.Pytester, record_property: Callable[[str, object], None]
) -> None:
    pytester.makepyfile(test_net=_network_module())
    pytester.makeini("[pytest]\ntenantfixtures_guard = fail\n")
    result = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", "--junitxml=net.xml"
    )
    counts: Counter[str] = Counter()
    problems: list[str] = []
    output = result.stdout.str() + result.stderr.str()
    if result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or (
        "INTERNALERROR" in output
    ):
        counts["crashed"] += 1
        problems.append(f"the inner run ended with {result.ret}:\n{output}")
    cases = {
        case.get("name", ""): case for case in ET.parse(pytester.path / "net.xml").iter("testcase")
    }
    for name, verdict, _ in NETWORK:
        case = cases.get(f"test_{name}")
        if case is None:
            counts["crashed"] += 1
            problems.append(f"crashed: test_{name} did not run")
            continue
        failure = case.find("failure")
        error = case.find("error")
        message = "" if failure is None else (failure.get("message") or "") + (failure.text or "")
        clear = (
            f"test_net.py::test_{name} tried to reach the real network:" in message
            and "(from test_net.py:" in message
        )
        if verdict == REFUSED and clear and error is None:
            counts["refused"] += 1
        elif verdict == REFUSED and failure is None and error is None:
            counts["leaked"] += 1
            problems.append(f"leaked: test_{name} passed")
        elif verdict == ALLOWED and failure is None and error is None:
            counts["allowed"] += 1
        else:
            counts["crashed"] += 1
            problems.append(f"crashed: test_{name} ({verdict} expected): {message or error}")
    if "203.0.113" in output and "Connection refused" in output:
        problems.append("a socket error for a TEST-NET address: was a packet sent?")
        counts["leaked"] += 1
    record_counts(record_property, counts, problems)
