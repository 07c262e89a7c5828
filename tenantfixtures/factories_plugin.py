"""Deterministic factory data: a seed per test, and time frozen from the first fixture on.

Every test starts factory ``Sequence`` counters at 0, so its ids, emails and titles do not
depend on the tests that ran before it on the same worker.

Seeds: one base seed per run (``--tf-seed``; default pytest-randomly's seed when it is active,
else a random one), printed in the header. Each test's seed is derived from the base and its
node id, so a test gets the same data alone, in any order and on any xdist worker. It seeds
factory-boy's and Faker's generators before the test's fixtures run, and the test body continues
from where the fixtures left off: pytest-randomly's own reseeding of these generators is undone,
so ``--tf-seed`` alone replays the data. The seed is in ``item.user_properties`` as
``tenantfixtures_seed`` (JUnit XML, the flaky recorder) and in the report of a failing test.

Time: ``@pytest.mark.freeze_time(...)`` takes freezegun's arguments and freezes the clock for the
whole test, fixtures included, so ``created_at`` defaults of rows made in fixtures are frozen too.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Generator, Iterator
from typing import Any

import pytest

try:  # factory-boy (and Faker, its dependency) is an optional extra: tenantfixtures[factories]
    from factory import random as factory_random
    from faker import generator as faker_generator

    from tenantfixtures.factories import reset_sequences
except ImportError:  # pragma: no cover - exercised only without the extra
    HAVE_FACTORY_BOY = False
else:
    HAVE_FACTORY_BOY = True

SEED_PROPERTY = "tenantfixtures_seed"
_BASE_SEED = pytest.StashKey[int]()
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
    config.addinivalue_line(
        "markers",
        "freeze_time(time_to_freeze=None, **freezegun_kwargs): freeze the clock (freezegun) for"
        " the whole test, fixtures included; the frozen_time fixture moves it",
    )
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


def pytest_report_header(config: pytest.Config) -> str:
    return f"tenantfixtures: factory data seed --tf-seed={config.stash[_BASE_SEED]}"


def seed_for(base: int, nodeid: str) -> int:
    """The seed of one test: stable for a node id and a base seed, independent of the order."""
    digest = hashlib.blake2b(f"{base}\0{nodeid}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


@pytest.fixture(autouse=True)
def _tenantfixtures_factory_data(request: pytest.FixtureRequest) -> Iterator[None]:
    """Seed the data generators and start the frozen clock before the test's other fixtures."""
    item = request.node
    seed = seed_for(request.config.stash[_BASE_SEED], item.nodeid)
    item.stash[_TEST_SEED] = seed
    item.user_properties.append((SEED_PROPERTY, seed))
    if HAVE_FACTORY_BOY:  # factory-boy's generator and Faker's shared one
        factory_random.reseed_random(seed)  # type: ignore[no-untyped-call]
        reset_sequences()
    marker = item.get_closest_marker("freeze_time")
    if marker is None:
        yield
        return
    try:
        from freezegun import freeze_time
    except ImportError:
        raise pytest.UsageError(
            "@pytest.mark.freeze_time needs freezegun: pip install freezegun"
        ) from None
    with freeze_time(*marker.args, **marker.kwargs) as frozen:
        item.stash[_FREEZER] = frozen
        yield


@pytest.fixture
def frozen_time(request: pytest.FixtureRequest) -> Any:
    """freezegun's frozen clock of a ``@pytest.mark.freeze_time`` test (``tick()``,
    ``move_to()``)."""
    frozen = request.node.stash.get(_FREEZER, None)
    if frozen is None:
        raise pytest.UsageError(
            "the frozen_time fixture needs the clock frozen: mark the test with"
            " @pytest.mark.freeze_time('2026-01-01 09:00') (any freezegun time)"
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
    if HAVE_FACTORY_BOY:
        states = (factory_random.randgen.getstate(), faker_generator.random.getstate())
        item.stash[_RANDOM_STATES] = states
    return result


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Undo reseeding between setup and call (pytest-randomly does it), so the body's data
    follows from this test's seed alone and never repeats values its fixtures already drew."""
    states = pyfuncitem.stash.get(_RANDOM_STATES, None)
    if states is not None:
        factory_random.randgen.setstate(states[0])
        faker_generator.random.setstate(states[1])
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
