"""pytest wiring for the guards (options, markers, hooks).

``--tf-guard`` / ``tenantfixtures_guard`` sets the mode of the guards that watch the test's
surroundings, the sandbox-escape and network guards (``GUARD_MODE`` in the config stash).
``tenancy.only(...)`` and the ``openrouter`` mock are checks the test asked for: they always
fail.

One hook wrapper (``_checked``, around setup, call and teardown) makes the test's violation log
the active one, and after the phase fails it (or warns) for what the guards recorded during it,
even when the code caught their error. The network guard is active during these phases only:
collection, session start and xdist's execnet channels (pipes opened before any test) are never
touched.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, cast

import pytest

from tenantfixtures.activation import asked_for, enabled_for

if TYPE_CHECKING:  # the guards themselves load once a project uses tenantfixtures
    from tenantfixtures.guards.network import AllowRule, NetworkGuard
    from tenantfixtures.guards.violations import Mode, Phase

MODES = ("fail", "warn", "off")
GUARD_MODE = pytest.StashKey[str]()
ALLOWED_HOSTS: pytest.StashKey[tuple[AllowRule, ...]] = pytest.StashKey()
NETWORK_GUARD: pytest.StashKey[NetworkGuard] = pytest.StashKey()
_CHECKED = pytest.StashKey[bool]()  # tenantfixtures is enabled for this test: check its phases
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
        help="what the guards do when a test reaches the real network or escapes its sandbox"
        f" (default: {_MODE_INI} from the ini file, else fail)",
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
    rules: tuple[AllowRule, ...] = ()
    if hosts := config.getini(_HOSTS_INI):
        from tenantfixtures.guards.network import parse_rules

        try:
            rules = parse_rules(hosts, _HOSTS_INI)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[GUARD_MODE] = mode
    config.stash[ALLOWED_HOSTS] = rules
    if mode != "off" and asked_for(config):
        _install(config)


def _install(config: pytest.Config) -> None:
    if not config.stash.get(_INSTALLED, False):
        from tenantfixtures.guards.network import PATCHES

        config.stash[_INSTALLED] = True
        PATCHES.install()
        config.add_cleanup(PATCHES.uninstall)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """The guards are on for projects (and tests) that use tenantfixtures, never for others.
    (Not ``tryfirst`` as call and teardown are: a bad marker fails setup before it yields, and
    the wrappers of pytest's logging and capture must have run their own setup by then.)"""
    item.stash[_CHECKED] = enabled = enabled_for(item)
    if NETWORK_GUARD in item.stash:  # a rerun reuses the item
        del item.stash[NETWORK_GUARD]
    mode = item.config.stash.get(GUARD_MODE, "off")
    if enabled and mode != "off":
        from tenantfixtures.guards.network import NetworkGuard

        _install(item.config)
        item.stash[NETWORK_GUARD] = NetworkGuard(
            item.nodeid, cast("Mode", mode), item.config.stash[ALLOWED_HOSTS] + _marked(item)
        )
    return (yield from _checked(item, "setup"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _checked(item, "call"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _checked(item, "teardown"))


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
    from tenantfixtures.guards.network import parse_rules

    try:
        return parse_rules(entries, "@pytest.mark.allow_network")
    except ValueError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained duplicate


def _checked(item: pytest.Item, phase: Phase) -> Generator[None, None, None]:
    """Run one test phase with the item's violation log active (and its network guard), then
    fail the phase, or warn, for the violations recorded during it."""
    if not item.stash.get(_CHECKED, False):
        return (yield)
    from tenantfixtures.guards import violations
    from tenantfixtures.guards.network import PATCHES

    log = violations.begin(item, phase)
    PATCHES.active = item.stash.get(NETWORK_GUARD, None)
    failure: BaseException | None = None
    try:
        result = yield
    except (KeyboardInterrupt, pytest.exit.Exception):
        raise
    except BaseException as exc:
        failure = exc
    finally:
        PATCHES.active = None
        if phase == "teardown":
            violations.end(log)
    # outside the except block: no "During handling of ..." noise
    violations.report(item, log.take_new(failure), failure)
    if failure is not None:
        raise failure
    return result
