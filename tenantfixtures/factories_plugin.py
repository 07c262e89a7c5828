"""Deterministic factory data: a seed per test, and time frozen from the first fixture on.

Inert until used, so merely installing tenantfixtures changes no other project's report.
Seeding is on for the session when ``--tf-seed`` is given or ``tenantfixtures.factories`` has
been imported by the end of collection (the project's factories derive from ``SystemFactory`` /
``TenantFactory``), and for any test that requests ``tf_seed``. Only then is a test seeded, its
seed put in ``item.user_properties`` as ``tenantfixtures_seed`` (JUnit XML, the flaky recorder)
and in the report of a failure; the header line appears when seeding is on at start-up
(``--tf-seed``, or factories imported by an initial conftest.py). factory-boy and Faker are
imported only then.

Seeds: one base seed per run (``--tf-seed``; default pytest-randomly's seed when it is active,
else a random one). Each test's seed is derived from the base and its node id, so a test gets the
same data alone, in any order and on any xdist worker. It seeds factory-boy's and Faker's
generators before the test's fixtures run, and the test body continues from where the fixtures
left off: pytest-randomly's own reseeding of these generators is undone, so ``--tf-seed`` alone
replays the data. Every test starts factory ``Sequence`` counters at 0.

Time: ``@pytest.mark.tf_freeze_time(...)`` takes freezegun's arguments and freezes the clock for
the whole test, fixtures included, so ``created_at`` defaults of rows made in fixtures are frozen
too. pytest's clocks and the flaky recorder's stay real (freezegun ``ignore``), so durations are
true. ``@pytest.mark.freeze_time`` means the same only where pytest-freezer (or pytest-freezegun)
is not active: the name is theirs, and with them installed we leave it to them entirely.
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Generator, Iterator
from typing import Any

import pytest

SEED_PROPERTY = "tenantfixtures_seed"
FREEZE_MARKER = "tf_freeze_time"
FREEZE_ALIAS = "freeze_time"
FREEZER_PLUGINS = ("freezer", "pytest_freezer", "freezegun", "pytest_freezegun")
REAL_CLOCK_MODULES = ("_pytest.timing", "tenantfixtures.flaky")  # durations, recorded attempts
FACTORIES_MODULE = "tenantfixtures.factories"
DATA_FIXTURE = "_tenantfixtures_factory_data"
_BASE_SEED = pytest.StashKey[int]()
_FREEZE_MARKERS = pytest.StashKey[tuple[str, ...]]()
_SEEDED = pytest.StashKey[bool]()
_TEST_SEED = pytest.StashKey[int]()
_RANDOM_STATES = pytest.StashKey[tuple[Any, Any]]()
_FREEZER = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenantfixtures", "multi-tenant database sandboxes")
    group.addoption(
        "--tf-seed",
        dest="tf_seed",
        metavar="N",
        help="base seed of factory data (Faker, factory-boy); a test's seed derives from it and"
        " its node id. Default: pytest-randomly's seed if active, else random (see the header)",
    )


class _XdistHooks:
    """Hands the controller's base seed to every worker (registered only with xdist)."""

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["tf_seed"] = node.config.stash[_BASE_SEED]


def pytest_configure(config: pytest.Config) -> None:
    markers = [FREEZE_MARKER]
    if not any(config.pluginmanager.has_plugin(name) for name in FREEZER_PLUGINS):
        markers.append(FREEZE_ALIAS)
    for name in markers:
        config.addinivalue_line(
            "markers",
            f"{name}(time_to_freeze=None, **freezegun_kwargs): freeze the clock (freezegun) for"
            " the whole test, fixtures included; the frozen_time fixture moves it",
        )
    config.stash[_FREEZE_MARKERS] = tuple(markers)
    config.stash[_BASE_SEED] = _base_seed(config)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "tenantfixtures-factories-xdist")


def _base_seed(config: pytest.Config) -> int:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and "tf_seed" in workerinput:
        return int(workerinput["tf_seed"])
    value: str | None = config.getoption("tf_seed")
    if value is not None:
        try:
            return int(value)
        except ValueError:
            raise pytest.UsageError(
                f"--tf-seed expects an integer (the base seed printed in a run's header),"
                f" got {value!r}"
            ) from None
    randomly_seed = getattr(config.option, "randomly_seed", None)
    if isinstance(randomly_seed, int):
        return randomly_seed
    return random.SystemRandom().getrandbits(32)


def _seeding(config: pytest.Config) -> bool:
    """Whether the project uses seeded factory data (see the module docstring)."""
    return config.getoption("tf_seed") is not None or FACTORIES_MODULE in sys.modules


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _seeding(config):
        return None
    return f"tenantfixtures: factory data seed --tf-seed={config.stash[_BASE_SEED]}"


def seed_for(base: int, nodeid: str) -> int:
    """The seed of one test: stable for a node id and a base seed, independent of the order."""
    digest = hashlib.blake2b(f"{base}\0{nodeid}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put our fixture first in the tests that use seeding or a frozen clock, and only those,
    so it runs before their other fixtures (as pytest-freezer does with its own)."""
    seeding = _seeding(config)
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        item.stash[_SEEDED] = seeding or "tf_seed" in item.fixturenames
        wanted = item.stash[_SEEDED] or _freeze_marker(item) is not None
        if wanted and DATA_FIXTURE not in item.fixturenames:
            item.fixturenames.insert(0, DATA_FIXTURE)


def _freeze_marker(item: pytest.Item) -> pytest.Mark | None:
    for name in item.config.stash[_FREEZE_MARKERS]:
        if (marker := item.get_closest_marker(name)) is not None:
            return marker
    return None


def _generators() -> tuple[Any, Any] | None:
    """factory-boy's generator and Faker's shared one, imported now that seeding is wanted."""
    try:
        from factory import random as factory_random
        from faker import generator as faker_generator
    except ImportError:  # the tenantfixtures[factories] extra is not installed
        return None
    return factory_random, faker_generator


@pytest.fixture
def _tenantfixtures_factory_data(request: pytest.FixtureRequest) -> Iterator[None]:
    """Seed the data generators and start the frozen clock before the test's other fixtures."""
    item = request.node
    if item.stash.get(_SEEDED, False):
        seed = seed_for(request.config.stash[_BASE_SEED], item.nodeid)
        item.stash[_TEST_SEED] = seed
        item.user_properties.append((SEED_PROPERTY, seed))
        if (generators := _generators()) is not None:
            generators[0].reseed_random(seed)  # Faker's shared generator included
        if FACTORIES_MODULE in sys.modules:
            from tenantfixtures.factories import reset_sequences

            reset_sequences()
    marker = _freeze_marker(item)
    if marker is None:
        yield
        return
    try:
        from freezegun import freeze_time
    except ImportError:
        raise pytest.UsageError(
            f"@pytest.mark.{marker.name} needs freezegun: pip install freezegun"
        ) from None
    kwargs = dict(marker.kwargs)
    kwargs["ignore"] = [*kwargs.get("ignore", ()), *REAL_CLOCK_MODULES]
    with freeze_time(*marker.args, **kwargs) as frozen:
        item.stash[_FREEZER] = frozen
        yield


@pytest.fixture
def frozen_time(request: pytest.FixtureRequest) -> Any:
    """freezegun's frozen clock of a ``@pytest.mark.tf_freeze_time`` test (``tick()``,
    ``move_to()``)."""
    frozen = request.node.stash.get(_FREEZER, None)
    if frozen is None:
        raise pytest.UsageError(
            "the frozen_time fixture needs the clock frozen: mark the test with"
            f" @pytest.mark.{FREEZE_MARKER}('2026-01-01 09:00') (any freezegun time)"
        )
    return frozen


@pytest.fixture
def tf_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed, to seed other generators the same way."""
    seed: int = request.node.stash[_TEST_SEED]
    return seed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Remember where the fixtures left the generators, for the test body to continue."""
    result = yield
    generators = _generators() if item.stash.get(_SEEDED, False) else None
    if generators is not None:
        factory_random, faker_generator = generators
        states = (factory_random.randgen.getstate(), faker_generator.random.getstate())
        item.stash[_RANDOM_STATES] = states
    return result


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Undo reseeding between setup and call (pytest-randomly does it), so the body's data
    follows from this test's seed alone and never repeats values its fixtures already drew."""
    states = pyfuncitem.stash.get(_RANDOM_STATES, None)
    generators = _generators() if states is not None else None
    if states is not None and generators is not None:
        generators[0].randgen.setstate(states[0])
        generators[1].random.setstate(states[1])
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Tell how to replay the data of a failed test."""
    report = yield
    seed = item.stash.get(_TEST_SEED, None)
    if report.failed and seed is not None:
        base = item.config.stash[_BASE_SEED]
        report.sections.append(
            ("tenantfixtures", f"factory data seed {seed}; replay with --tf-seed={base}")
        )
    return report
