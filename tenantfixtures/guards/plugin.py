"""pytest wiring for the guards (options, markers, hooks).

``--tf-guard`` / ``tenantfixtures_guard`` sets the mode of every guard (``GUARD_MODE`` in the
config stash, for guards added later). The network guard is active from each test's setup to
the end of its teardown: collection, session start and xdist's execnet channels (pipes opened
before any test) are never touched.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import cast

import pytest

from tenantfixtures.activation import asked_for, enabled_for
from tenantfixtures.guards.network import (
    PATCHES,
    AllowRule,
    Mode,
    NetworkGuard,
    parse_rules,
)

MODES = ("fail", "warn", "off")
GUARD_MODE = pytest.StashKey[str]()
ALLOWED_HOSTS = pytest.StashKey[tuple[AllowRule, ...]]()
NETWORK_GUARD = pytest.StashKey[NetworkGuard]()
_INSTALLED = pytest.StashKey[bool]()
_MODE_INI = "tenantfixtures_guard"
_HOSTS_INI = "tenantfixtures_allowed_hosts"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenantfixtures")
    group.addoption(
        "--tf-guard",
        dest="tf_guard",
        default=None,
        metavar="fail|warn|off",
        help=f"what the guards do when a test reaches the real network (default: {_MODE_INI}"
        " from the ini file, else fail)",
    )
    parser.addini(_MODE_INI, "default for --tf-guard: fail, warn or off", default="fail")
    parser.addini(
        _HOSTS_INI,
        "hosts every test may reach (one per line: host, host:port or *.domain); loopback"
        " and Unix sockets are always allowed",
        type="linelist",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_network(*hosts): let this test reach these hosts (host, host:port, *.domain);"
        " with no argument, any host",
    )
    option = config.getoption("tf_guard")
    source = "--tf-guard" if option is not None else _MODE_INI
    mode = str(option if option is not None else config.getini(_MODE_INI)).strip().lower()
    if mode not in MODES:
        raise pytest.UsageError(
            f"{source}: {mode!r} is not a guard mode; use one of {', '.join(MODES)}"
        )
    try:
        rules = parse_rules(config.getini(_HOSTS_INI), _HOSTS_INI)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[GUARD_MODE] = mode
    config.stash[ALLOWED_HOSTS] = rules
    if mode != "off" and asked_for(config):
        _install(config)


def _install(config: pytest.Config) -> None:
    if not config.stash.get(_INSTALLED, False):
        config.stash[_INSTALLED] = True
        PATCHES.install()
        config.add_cleanup(PATCHES.uninstall)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """The guard is on for projects (and tests) that use tenantfixtures, never for others."""
    mode = item.config.stash.get(GUARD_MODE, "off")
    if mode != "off" and enabled_for(item):
        _install(item.config)
        item.stash[NETWORK_GUARD] = NetworkGuard(
            item.nodeid, cast(Mode, mode), item.config.stash[ALLOWED_HOSTS] + _marked(item)
        )
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _guarded(item))


def _marked(item: pytest.Item) -> tuple[AllowRule, ...]:
    """Rules from ``@pytest.mark.allow_network``; a bare marker allows any host."""
    entries: list[object] = []
    for marker in item.iter_markers("allow_network"):
        if marker.kwargs:
            pytest.fail(
                f"@pytest.mark.allow_network takes host names only, not {sorted(marker.kwargs)}",
                pytrace=False,
            )
        entries.extend(marker.args or ("*",))
    try:
        return parse_rules(entries, "@pytest.mark.allow_network")
    except ValueError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained duplicate


def _guarded(item: pytest.Item) -> Generator[None, None, None]:
    """Run one test phase under the item's guard, then fail or warn for what it reached."""
    guard = item.stash.get(NETWORK_GUARD, None)
    if guard is None:
        return (yield)
    PATCHES.active = guard
    failure: BaseException | None = None
    try:
        result = yield
    except (KeyboardInterrupt, pytest.exit.Exception):
        raise
    except BaseException as exc:
        failure = exc
    finally:
        PATCHES.active = None
    guard.settle(item, failure)  # outside the except block: no "During handling of ..." noise
    if failure is not None:
        raise failure
    return result
