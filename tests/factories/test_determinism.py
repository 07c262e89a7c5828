"""Seeded data per test (replayable from the header's seed) and time frozen for fixtures too."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tenantfixtures.factories_plugin import SEED_PROPERTY, seed_for
from tests.factories.conftest import run

DRAWS = """
import os
from pathlib import Path

import pytest
from shop import AccountFactory, ThreadFactory


def record(request, value):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with Path(f"draws-{worker}.txt").open("a") as out:
        out.write(f"{request.node.nodeid}|{value}\\n")


@pytest.fixture
def early_thread():
    return ThreadFactory()


def test_fixture_and_body(request, early_thread):
    late_thread = ThreadFactory()
    assert early_thread.title != late_thread.title  # the body continues, never repeats
    record(request, f"{early_thread.title} / {late_thread.title}")


@pytest.mark.parametrize("n", range(4))
def test_accounts(request, n):
    account = AccountFactory()
    assert account.id == "account-0"  # sequences restart in every test
    record(request, account.name)
"""


def draws(project: pytest.Pytester) -> dict[str, str]:
    """nodeid -> what the test drew, gathered from every worker, then cleared."""
    found = {}
    for path in project.path.glob("draws-*.txt"):
        for line in path.read_text().splitlines():
            nodeid, value = line.split("|")
            found[nodeid] = value
        path.unlink()
    return found


def test_same_seed_same_data_in_any_order_alone_or_in_parallel(factory_project):
    factory_project.makepyfile(test_draws=DRAWS)
    run(factory_project, "-p", "no:randomly", "--tf-seed=123").assert_outcomes(passed=5)
    serial = draws(factory_project)
    assert len(serial) == 5
    assert len(set(serial.values())) == 5  # every test drew its own data

    shuffled = run(factory_project, "-p", "randomly", "--randomly-seed=9", "--tf-seed=123")
    shuffled.assert_outcomes(passed=5)
    assert draws(factory_project) == serial  # --tf-seed wins over pytest-randomly's reseeding

    run(factory_project, "-n", "2", "--tf-seed=123").assert_outcomes(passed=5)
    assert draws(factory_project) == serial

    run(factory_project, "-p", "no:randomly", "--tf-seed=123", "test_draws.py::test_accounts[2]")
    assert draws(factory_project) == {
        "test_draws.py::test_accounts[2]": serial["test_draws.py::test_accounts[2]"]
    }

    run(factory_project, "-p", "no:randomly", "--tf-seed=124").assert_outcomes(passed=5)
    other = draws(factory_project)
    assert other.keys() == serial.keys()
    assert all(other[nodeid] != serial[nodeid] for nodeid in serial)


def test_seed_is_reported_for_replay(factory_project):
    factory_project.makepyfile(
        test_report="""
        from shop import ThreadFactory

        def test_passes():
            ThreadFactory()

        def test_fails():
            assert ThreadFactory().title == "never"
        """
    )
    result = run(factory_project, "-p", "no:randomly", "--tf-seed=7", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["tenantfixtures: factory data seed --tf-seed=7"])
    failing_seed = seed_for(7, "test_report.py::test_fails")
    result.stdout.fnmatch_lines(
        [
            "*- tenantfixtures -*",
            f"factory data seed {failing_seed}; replay with --tf-seed=7",
        ]
    )
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(Path(factory_project.path, "junit.xml")).iter("testcase")
    }
    assert properties == {
        "test_passes": {SEED_PROPERTY: str(seed_for(7, "test_report.py::test_passes"))},
        "test_fails": {SEED_PROPERTY: str(failing_seed)},
    }


def test_base_seed_follows_pytest_randomly_and_is_random_otherwise(factory_project):
    factory_project.makepyfile(test_nothing="def test_nothing(): pass")
    result = run(factory_project, "-p", "randomly", "--randomly-seed=77")
    result.stdout.fnmatch_lines(["tenantfixtures: factory data seed --tf-seed=77"])
    seeds = set()
    for _ in range(2):
        output = run(factory_project, "-p", "no:randomly").stdout.str()
        seeds.add(re.search(r"factory data seed --tf-seed=(\d+)", output).group(1))
    assert len(seeds) == 2


def test_freeze_time_covers_fixtures_and_the_app_clock(factory_project):
    factory_project.makepyfile(
        test_frozen="""
        from datetime import datetime

        import pytest
        from shop import ThreadFactory, rows

        @pytest.fixture
        def early_thread():
            return ThreadFactory()

        def stored(tenancy):
            return [row[0] for row in rows(tenancy.tenant_path("default"),
                                           "SELECT created_at FROM threads ORDER BY id")]

        @pytest.mark.tf_freeze_time("2026-01-02 03:04:05")
        def test_fixture_and_body_rows_share_the_frozen_instant(early_thread, tenancy):
            ThreadFactory()
            assert stored(tenancy) == ["2026-01-02 03:04:05.000000"] * 2
            assert early_thread.created_at == datetime(2026, 1, 2, 3, 4, 5)

        @pytest.mark.tf_freeze_time("2026-01-02", auto_tick_seconds=60)
        def test_ticking_clock_orders_a_batch(tenancy):
            ThreadFactory.create_batch(3)
            created = stored(tenancy)
            assert len(created) == 3 and created == sorted(set(created))
            assert all(value.startswith("2026-01-02 ") and value.endswith(":00.000000")
                       for value in created)

        @pytest.mark.freeze_time("2026-01-02")  # the old name, where pytest-freezer is absent
        def test_frozen_time_moves_the_clock(frozen_time, tenancy):
            frozen_time.move_to("2030-05-06 07:08:09")
            ThreadFactory()
            assert stored(tenancy) == ["2030-05-06 07:08:09.000000"]

        def test_unmarked_tests_use_the_real_clock(tenancy):
            ThreadFactory()
            assert stored(tenancy)[0] > "2026-01-01"  # now, stored as UTC
            assert datetime.now().year >= 2026
        """
    )
    run(factory_project, "-n", "2", "-p", "no:freezer").assert_outcomes(passed=4)
