"""The network guard: a test that reaches the real network fails, whichever client it used.

Why the socket layer: httpx, httpx2, requests, urllib, asyncio and raw sockets all end in
``socket.socket.connect`` (or ``connect_ex``/``sendto``/``sendmsg``), in whatever thread they
run, so patching those methods covers every client at once. Mocks (respx, the ``openrouter``
fixture) and ASGI/WSGI test transports never open a socket, so they pass without being
special-cased.

Name lookups are refused before any DNS query leaves the machine: ``socket.getaddrinfo``,
``gethostbyname``, ``gethostbyname_ex``, ``gethostbyaddr`` and ``getnameinfo`` (reverse lookups
of a non-loopback address included; ``NI_NUMERICHOST`` asks nothing of DNS and passes). Wrapping
``getaddrinfo`` also lets the message and the allow-list speak of ``api.example.com:443`` rather
than of one of its IP addresses.

What counts is a packet leaving: a TCP ``connect`` (its SYN), any UDP send (``sendto``,
``sendmsg``, and ``send``/``sendall`` on a connected UDP socket), a DNS query. ``connect`` on a
UDP socket to an *address* sends nothing, so the "connect a UDP socket to 192.0.2.1:80 to learn
my local IP" idiom passes; a UDP ``connect`` to a *name* is a DNS query and is refused.
Loopback in every spelling (``127.1``, ``0177.0.0.1``, ``::1``, ``localhost``, the machine's own
host name) and Unix sockets are always allowed.

``_socket`` used directly: its ``socket`` type is immutable in CPython (its methods cannot be
patched), so the guard also listens to CPython's audit events (``socket.connect``,
``socket.sendto``, ``socket.sendmsg``, ``socket.getaddrinfo``, ``socket.gethostbyname``,
``socket.gethostbyaddr``, ``socket.getnameinfo``), which C raises for every socket object and
every caller. Two gaps remain, because CPython raises no event for them: ``send``/``sendall`` on
a connected UDP ``_socket.socket`` (not a ``socket.socket``), and the DNS query that
``_socket.socket.connect(("name", port))`` makes inside C before its event (the connection
itself is still refused).

Not covered: subprocesses (``curl``, ``git``, a child Python: they have their own sockets;
mock or allow at their level), C extensions that open their own sockets (libpq, grpc, uvloop),
and ``os.write`` on a socket's file descriptor.

A lookup that asyncio runs in its executor thread (``loop.getaddrinfo``, ``run_in_executor``,
``asyncio.to_thread``) is reported with the call site of the coroutine that submitted it.

Violations are recorded in the test's violation log as well as raised: an app that catches the
error (and answers 502, or retries) still fails the test (see ``guards.violations``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tenantfixtures.guards.violations import (
    GuardKind,
    Mode,
    Violation,
    call_site,
    record,
    submitted_from,
)

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_INTERNET = (socket.AF_INET, socket.AF_INET6)
# Socket types whose connect() sends no packet (no handshake): only their sends count.
_CONNECTIONLESS = (socket.SOCK_DGRAM, socket.SOCK_RAW)
_SOCKET_METHODS = ("connect", "connect_ex", "sendto", "send", "sendall", "sendmsg")
_LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo")
# What inet_aton (and so the C library's resolver) reads as an IPv4 address: 127.1, 0x7f.1,
# 0177.0.0.1, 2130706433. ``ipaddress`` refuses these; they are addresses, never names.
_INET_ATON = re.compile(r"(?i)(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}")


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
    # Where the test tried to go (once per place: a lookup and its connect are one report).
    reached: list[Destination] = field(default_factory=list)
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

    def check_connect(self, family: int, kind: int, address: Any) -> None:
        """Called before connect/connect_ex: a TCP handshake is traffic, a UDP connect is not.

        ``connect`` on a UDP (or raw) socket only records the peer; but given a name, the C
        library resolves it first, which is a DNS query.
        """
        if kind in _CONNECTIONLESS:
            if family in _INTERNET and isinstance(address, tuple) and address:
                host = address[0]
                if isinstance(host, bytes):
                    host = host.decode("idna")
                if isinstance(host, str) and _address(_normal(host)) is None:
                    port = address[1] if len(address) > 1 and isinstance(address[1], int) else None
                    self.check_name(host, port)
            return
        self.check_address(family, address)

    def check_peer(self, sock: Any) -> None:
        """Called before send/sendall/sendmsg without an address on a connectionless socket."""
        with contextlib.suppress(OSError, AttributeError):
            if sock.type in _CONNECTIONLESS:
                peer = sock.getpeername()  # OSError when not connected: the send fails itself
                self.check_address(sock.family, peer)

    def check_lookup(self, host: str) -> None:
        """Called before a reverse lookup (gethostbyaddr, getnameinfo): a DNS query too."""
        name = _normal(host)
        ip = _address(name)
        if ip is None:
            self.check_name(host, None)
            return
        if _is_local_address(ip):
            return
        names = self.names.get(name, set())
        if any(
            rule.matches(candidate, None) for candidate in (name, *names) for rule in self.rules
        ):
            return
        self._violate(Destination(min(names) if names else None, name, None))

    def _violate(self, destination: Destination) -> None:
        """Record the destination in the test's violation log (once per place), and refuse it
        unless the guard only warns."""
        where = call_site()
        if not any(destination.same_place(seen) for seen in self.reached):
            self.reached.append(destination)
            violation = record(
                GuardKind.NETWORK, self.message(destination), mode=self.mode, where=where
            )
        else:
            violation = Violation(GuardKind.NETWORK, self.message(destination), where, self.mode)
        if self.mode == "fail":
            raise NetworkBlockedError(violation.render())

    def message(self, destination: Destination) -> str:
        """What the test reached, and the three ways out (the call site is added by the log)."""
        host = destination.name or destination.address or "HOST"
        return (
            f"{self.nodeid} tried to reach the real network: {destination}."
            "\nMock it (the `openrouter` fixture, or respx routes), or allow it:"
            f' @pytest.mark.allow_network("{host}") on the test, or'
            f" `tenantfixtures_allowed_hosts = {host}` in the ini file"
            " (--tf-guard=warn only warns, --tf-guard=off disables the guard)."
        )


class _Patches:
    """Install-once wrappers around the socket functions, routed to the active guard.

    The wrappers stay installed for the whole run and cost one global read when no test
    runs; a test's guard is only consulted between its setup and teardown. The audit hook
    (for ``_socket`` used directly) cannot be removed: it is added once per process and does
    nothing while no guard is active.
    """

    def __init__(self) -> None:
        self.active: NetworkGuard | None = None
        self.installed = 0
        self.lock = threading.Lock()
        self.originals: dict[str, Any] = {}
        self.audit_hooked = False

    def install(self) -> None:
        with self.lock:
            self.installed += 1
            if self.installed > 1:
                return
            sock_type = socket.socket
            self.originals = {name: getattr(sock_type, name) for name in _SOCKET_METHODS}
            for name in _LOOKUPS:
                self.originals[name] = getattr(socket, name)
            loop_type = asyncio.BaseEventLoop
            self.originals["run_in_executor"] = loop_type.run_in_executor
            for name in ("connect", "connect_ex"):
                setattr(sock_type, name, self._connect(self.originals[name]))
            setattr(sock_type, "sendto", self._sendto(self.originals["sendto"]))  # noqa: B010
            setattr(sock_type, "sendmsg", self._sendmsg(self.originals["sendmsg"]))  # noqa: B010
            for name in ("send", "sendall"):
                setattr(sock_type, name, self._send(self.originals[name]))
            socket.getaddrinfo = self._getaddrinfo(self.originals["getaddrinfo"])
            for name in ("gethostbyname", "gethostbyname_ex"):
                setattr(socket, name, self._by_name(self.originals[name]))
            socket.gethostbyaddr = self._gethostbyaddr(self.originals["gethostbyaddr"])
            socket.getnameinfo = self._getnameinfo(self.originals["getnameinfo"])
            wrapped = self._run_in_executor(self.originals["run_in_executor"])
            setattr(loop_type, "run_in_executor", wrapped)  # noqa: B010
            if not self.audit_hooked:
                sys.addaudithook(self._audit)
                self.audit_hooked = True

    def uninstall(self) -> None:
        with self.lock:
            self.installed -= 1
            if self.installed > 0:
                return
            for name in _SOCKET_METHODS:
                setattr(socket.socket, name, self.originals[name])
            for name in _LOOKUPS:
                setattr(socket, name, self.originals[name])
            real_run = self.originals["run_in_executor"]
            setattr(asyncio.BaseEventLoop, "run_in_executor", real_run)  # noqa: B010
            self.active = None

    def _connect(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """connect(address), connect_ex(address): judged before C resolves a name."""

        @functools.wraps(real)
        def guarded(sock: socket.socket, address: Any) -> Any:
            __tracebackhide__ = True
            if (guard := self.active) is not None:
                guard.check_connect(sock.family, sock.type, address)
            return real(sock, address)

        return guarded

    def _sendto(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """sendto(data[, flags], address)."""

        @functools.wraps(real)
        def guarded(sock: socket.socket, *args: Any) -> Any:
            __tracebackhide__ = True
            if (guard := self.active) is not None and args:
                guard.check_address(sock.family, args[-1])
            return real(sock, *args)

        return guarded

    def _sendmsg(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """sendmsg(buffers[, ancdata[, flags[, address]]])."""

        @functools.wraps(real)
        def guarded(sock: socket.socket, *args: Any) -> Any:
            __tracebackhide__ = True
            if (guard := self.active) is not None:
                if len(args) >= 4 and args[3] is not None:
                    guard.check_address(sock.family, args[3])
                else:
                    guard.check_peer(sock)
            return real(sock, *args)

        return guarded

    def _send(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """send(data[, flags]), sendall(data[, flags]): a packet on a connected UDP socket."""

        @functools.wraps(real)
        def guarded(sock: socket.socket, *args: Any) -> Any:
            __tracebackhide__ = True
            if (guard := self.active) is not None and sock.type in _CONNECTIONLESS:
                guard.check_peer(sock)
            return real(sock, *args)

        return guarded

    def _getaddrinfo(self, real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
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

    def _by_name(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """gethostbyname(name), gethostbyname_ex(name)."""

        @functools.wraps(real)
        def lookup(hostname: Any) -> Any:
            __tracebackhide__ = True
            if (guard := self.active) is not None and isinstance(hostname, str):
                guard.check_name(hostname, None)
            return real(hostname)

        return lookup

    def _gethostbyaddr(self, real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def gethostbyaddr(ip_address: Any) -> Any:
            __tracebackhide__ = True
            if (guard := self.active) is not None and isinstance(ip_address, str):
                guard.check_lookup(ip_address)
            return real(ip_address)

        return gethostbyaddr

    def _getnameinfo(self, real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def getnameinfo(sockaddr: Any, flags: int) -> Any:
            __tracebackhide__ = True
            guard = self.active
            if guard is None or not isinstance(sockaddr, tuple) or not sockaddr:
                return real(sockaddr, flags)
            if isinstance(flags, int) and flags & socket.NI_NUMERICHOST:
                _NUMERIC.depth = getattr(_NUMERIC, "depth", 0) + 1  # no DNS: tell the audit hook
                try:
                    return real(sockaddr, flags)
                finally:
                    _NUMERIC.depth -= 1
            if isinstance(sockaddr[0], str):
                guard.check_lookup(sockaddr[0])
            return real(sockaddr, flags)

        return getnameinfo

    def _run_in_executor(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """Carry the submitting coroutine's call site into the executor thread."""

        @functools.wraps(real)
        def run_in_executor(loop: Any, executor: Any, func: Any, *args: Any) -> Any:
            if self.active is None or asyncio.iscoroutinefunction(func) or not callable(func):
                return real(loop, executor, func, *args)  # the real one raises its own errors
            origin = call_site()
            if origin is None:
                return real(loop, executor, func, *args)

            def call(*inner: Any) -> Any:
                with submitted_from(origin):
                    return func(*inner)

            return real(loop, executor, call, *args)

        return run_in_executor

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        """CPython's socket audit events: ``_socket`` used directly, any caller, any thread."""
        guard = self.active
        if guard is None or not event.startswith("socket."):
            return
        __tracebackhide__ = True
        if event == "socket.connect":
            sock, address = args
            guard.check_connect(sock.family, sock.type, address)
        elif event == "socket.sendto":
            sock, address = args
            guard.check_address(sock.family, address)
        elif event == "socket.sendmsg":
            sock, address = args
            if address is None:
                guard.check_peer(sock)
            else:
                guard.check_address(sock.family, address)
        elif event == "socket.getaddrinfo":
            host, port = args[0], args[1]
            name = host.decode("idna") if isinstance(host, bytes) else host
            if isinstance(name, str):
                guard.check_name(name, port if isinstance(port, int) else _port(port))
        elif event == "socket.gethostbyname":
            if args and isinstance(args[0], str):
                guard.check_name(args[0], None)
        elif event == "socket.gethostbyaddr":
            if args and isinstance(args[0], str):
                guard.check_lookup(args[0])
        elif event == "socket.getnameinfo":
            sockaddr = args[0] if args else None
            numeric = getattr(_NUMERIC, "depth", 0) > 0
            if (
                not numeric
                and isinstance(sockaddr, tuple)
                and sockaddr
                and isinstance(sockaddr[0], str)
            ):
                guard.check_lookup(sockaddr[0])


# getnameinfo(NI_NUMERICHOST) calls in progress, per thread.
_NUMERIC = threading.local()

PATCHES = _Patches()


def _normal(host: str) -> str:
    """Compare names case-insensitively and without the DNS root dot; addresses canonically."""
    host = host.lower().rstrip(".")
    ip = _address(host)
    return str(ip) if ip is not None else host


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, the way the C library reads it (``127.1`` included)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone (%eth0)
    except ValueError:
        pass
    if _INET_ATON.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _is_local_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, or the unspecified address (which Linux connects to the local host)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _is_local_name(host: str) -> bool:
    """localhost and its aliases (RFC 6761), and this machine's own host name."""
    return host in LOCAL_NAMES or host.endswith(".localhost") or host == _HOSTNAME


_HOSTNAME = socket.gethostname().lower().rstrip(".")  # a system call, no DNS query


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
