"""The network guard: a test that reaches the real network fails, whichever client it used.

Why the socket layer: httpx, httpx2, requests, urllib, asyncio and raw sockets all end in
``socket.socket.connect`` (or ``connect_ex``/``sendto``), in whatever thread they run, so patching
those methods covers every client at once. Mocks (respx, the ``openrouter`` fixture) and ASGI/WSGI
test transports never open a socket, so they pass without being special-cased.

``socket.getaddrinfo`` is wrapped too, for two reasons: a name the test may not reach is refused
before any DNS query leaves the machine (an offline CI runner would otherwise report a puzzling
"Name or service not known"), and the name a client resolved lets the message and the allow-list
speak of ``api.example.com:443`` rather than of one of its IP addresses.

Violations are recorded as well as raised: an app that catches the error (and answers 502, or
retries) still fails the test, see ``NetworkGuard.settle``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import pytest

from tenantfixtures.redact import redact

Mode = Literal["fail", "warn"]
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_INTERNET = (socket.AF_INET, socket.AF_INET6)
_METHODS = ("connect", "connect_ex", "sendto")


class NetworkGuardWarning(pytest.PytestWarning):
    """A test reached the real network while ``--tf-guard=warn``."""


class NetworkBlockedError(RuntimeError):
    """Raised where the test's code tried to connect.

    Deliberately not an ``OSError``: clients would map it to "connection failed" and apps
    would retry it with backoff; a RuntimeError stops at once and names the cause.
    """


@dataclass(frozen=True)
class AllowRule:
    """One allow-list entry: ``host``, ``host:port``, ``*.domain`` (subdomains), ``*``."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> AllowRule:
        """Read ``api.example.com``, ``api.example.com:8443``, ``[::1]:80`` or ``*.example.com``."""
        text = entry.strip().lower()
        if not text or any(c.isspace() or c in "/@" for c in text):
            raise ValueError(
                f"{entry!r} is not a host: use host, host:port or *.domain (subdomains)"
            )
        host, port_text = text, None
        if text.startswith("["):
            host, bracket, rest = text[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"{entry!r}: write IPv6 addresses as [::1] or [::1]:8080")
            port_text = rest[1:] or None
        elif text.count(":") == 1:  # more colons: an IPv6 address without a port
            host, _, port_text = text.partition(":")
        port = None
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
            port = int(port_text)
        wildcard = host.startswith("*.") and "*" not in host[2:]
        if not host or ("*" in host and host != "*" and not wildcard):
            raise ValueError(
                f"{entry!r} is not a host: use host, host:port or *.domain (subdomains)"
            )
        return cls(_normal(host), port)

    def matches(self, host: str, port: int | None) -> bool:
        """Whether this rule allows ``host`` (a name or an address) on ``port`` (None: any)."""
        if self.port is not None and port is not None and port != self.port:
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


def parse_rules(entries: Iterable[object], source: str) -> tuple[AllowRule, ...]:
    """Allow rules from ini lines or marker arguments; a ValueError names ``source``."""
    rules = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"{source}: {entry!r} is not a host name (a string)")
        try:
            rules.append(AllowRule.parse(entry))
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    return tuple(rules)


@dataclass(frozen=True)
class Destination:
    """Where the test tried to go: the name it asked for, if known, and the address."""

    name: str | None
    address: str | None
    port: int | None

    def same_place(self, other: Destination) -> bool:
        """Whether both name one host and port (a lookup has no port yet): one report, not two."""
        return (self.name or self.address) == (other.name or other.address) and (
            self.port == other.port or None in (self.port, other.port)
        )

    def __str__(self) -> str:
        host = self.name or self.address or "?"
        where = f"[{host}]" if ":" in host else host
        if self.port is not None:
            where = f"{where}:{self.port}"
        if self.name and self.address and self.name != self.address:
            where = f"{where} ({self.address})"
        return where


@dataclass
class NetworkGuard:
    """One test's guard: what it may reach, and what it tried to reach that it may not."""

    nodeid: str
    mode: Mode
    rules: tuple[AllowRule, ...]
    violations: list[tuple[Destination, str | None]] = field(default_factory=list)
    reported: int = 0
    # address -> the names the test resolved to it (asyncio resolves in another thread).
    names: dict[str, set[str]] = field(default_factory=dict)

    def check_name(self, name: str, port: int | None) -> None:
        """Called before a DNS lookup: refuse names the test may not reach."""
        host = _normal(name)
        if _is_local_name(host) or _address(host) is not None:
            return  # addresses are judged at connect time, where the port is known
        if not any(rule.matches(host, port) for rule in self.rules):
            self._violate(Destination(host, None, port))

    def remember(self, name: str, infos: Iterable[tuple[Any, ...]]) -> None:
        """Note which addresses a name resolved to, for the allow-list and the message."""
        host = _normal(name)
        for info in infos:
            self.names.setdefault(str(info[4][0]), set()).add(host)

    def check_address(self, family: int, address: Any) -> None:
        """Called before connect/sendto: refuse internet addresses that are not allowed."""
        if family not in _INTERNET or not isinstance(address, tuple) or len(address) < 2:
            return  # Unix sockets, netlink, ...: not the network
        host, port = address[0], address[1]
        if isinstance(host, bytes):
            host = host.decode("idna")
        if not isinstance(host, str) or not isinstance(port, int):
            return  # malformed: let the socket raise its own error
        host = _normal(host)
        ip = _address(host)
        if ip is None:  # connect(("example.com", 80)) resolves inside C, unseen by us
            if _is_local_name(host) or any(rule.matches(host, port) for rule in self.rules):
                return
            self._violate(Destination(host, None, port))
            return
        if _is_local_address(ip):
            return
        names = self.names.get(host, set())
        if any(
            rule.matches(candidate, port) for candidate in (host, *names) for rule in self.rules
        ):
            return
        self._violate(Destination(min(names) if names else None, host, port))

    def _violate(self, destination: Destination) -> None:
        where = _caller()
        pending = self.violations[self.reported :]
        if not any(destination.same_place(seen) for seen, _ in pending):
            self.violations.append((destination, where))
        if self.mode == "fail":
            raise NetworkBlockedError(self.message([(destination, where)]))

    def message(self, violations: list[tuple[Destination, str | None]]) -> str:
        """The one explanation users see, in the exception, the failure and the warning."""
        unique = list(dict.fromkeys(str(destination) for destination, _ in violations))
        where = next((w for _, w in violations if w), None)
        first = violations[0][0]
        host = first.name or first.address or "HOST"
        text = (
            f"tenantfixtures network guard: {self.nodeid} tried to reach the real network:"
            f" {', '.join(unique)}"
            + (f" (from {where})" if where else "")
            + ".\nMock it (the `openrouter` fixture, or respx routes), or allow it:"
            f' @pytest.mark.allow_network("{host}") on the test, or'
            f" `tenantfixtures_allowed_hosts = {host}` in the ini file"
            " (--tf-guard=warn only warns, --tf-guard=off disables the guard)."
        )
        return redact(text)

    def settle(self, item: pytest.Item, failure: BaseException | None) -> None:
        """After a test phase: fail it, or warn, for what it reached since the last phase.

        The failure replaces whatever the app made of our error (a 502, a retry, an
        ExceptionGroup from anyio), because the network access is the root cause.
        """
        new = self.violations[self.reported :]
        self.reported = len(self.violations)
        if not new:
            return
        text = self.message(new)
        if self.mode == "warn":
            item.warn(NetworkGuardWarning(text))
            return
        if failure is not None and not _mentions_guard(failure):
            detail = redact(f"{type(failure).__name__}: {failure}".splitlines()[0])
            text += f"\n(the test then failed with {detail})"
        pytest.fail(text, pytrace=False)


class _Patches:
    """Install-once wrappers around the socket functions, routed to the active guard.

    The wrappers stay installed for the whole run and cost one global read when no test
    runs; a test's guard is only consulted between its setup and teardown.
    """

    def __init__(self) -> None:
        self.active: NetworkGuard | None = None
        self.installed = 0
        self.lock = threading.Lock()
        self.originals: dict[str, Any] = {}

    def install(self) -> None:
        with self.lock:
            self.installed += 1
            if self.installed > 1:
                return
            self.originals = {name: getattr(socket.socket, name) for name in _METHODS}
            self.originals["getaddrinfo"] = socket.getaddrinfo
            for name in _METHODS:
                setattr(socket.socket, name, self._method(self.originals[name]))
            socket.getaddrinfo = self._getaddrinfo(socket.getaddrinfo)

    def uninstall(self) -> None:
        with self.lock:
            self.installed -= 1
            if self.installed > 0:
                return
            for name in _METHODS:
                setattr(socket.socket, name, self.originals[name])
            socket.getaddrinfo = self.originals["getaddrinfo"]
            self.active = None

    def _method(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """connect(address), connect_ex(address), sendto(data[, flags], address)."""

        def guarded(sock: socket.socket, *args: Any) -> Any:
            __tracebackhide__ = True
            if (guard := self.active) is not None and args:
                guard.check_address(sock.family, args[-1])
            return real(sock, *args)

        return guarded

    def _getaddrinfo(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            guard = self.active
            name = host.decode("idna") if isinstance(host, bytes) else host
            if guard is None or not isinstance(name, str):
                return real(host, port, *args, **kwargs)
            guard.check_name(name, port if isinstance(port, int) else _port(port))
            infos = real(host, port, *args, **kwargs)
            guard.remember(name, infos)
            return infos

        return getaddrinfo


PATCHES = _Patches()


def _normal(host: str) -> str:
    """Compare names case-insensitively and without the DNS root dot; addresses canonically."""
    host = host.lower().rstrip(".")
    ip = _address(host)
    return str(ip) if ip is not None else host


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone (%eth0)
    except ValueError:
        return None


def _is_local_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, or the unspecified address (which Linux connects to the local host)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _is_local_name(host: str) -> bool:
    return host in LOCAL_NAMES or host.endswith(".localhost")  # RFC 6761


def _port(port: object) -> int | None:
    """getaddrinfo's port may be None, a number as text, or a service name ("https")."""
    if isinstance(port, bytes):
        port = port.decode()
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        try:
            return socket.getservbyname(port)
        except OSError:
            return None
    return None


_OURS = str(Path(__file__).resolve().parent)
_LIBRARIES = tuple(
    {
        path
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (raw := sysconfig.get_paths().get(key))
        for path in (raw, str(Path(raw).resolve()))
    }
)


def _caller() -> str | None:
    """The innermost frame of the user's own code (test or app), as ``path:line in func``."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith((_OURS, *_LIBRARIES, "<")):
            path = Path(filename)
            with contextlib.suppress(ValueError):
                path = path.relative_to(Path.cwd())
            return f"{path}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return None


def _mentions_guard(failure: BaseException) -> bool:
    """Whether the failure is our own error (maybe inside an ExceptionGroup)."""
    if isinstance(failure, NetworkBlockedError):
        return True
    if isinstance(failure, BaseExceptionGroup):
        return any(_mentions_guard(inner) for inner in failure.exceptions)
    return False
