"""The factories plugin as a neighbour: silent where unused, deferring to pytest-freezer, and
leaving pytest's own clocks real under a frozen test."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tenantfixtures.factories_plugin import SEED_PROPERTY, seed_for
from tests.factories.conftest import run

PLAIN = """
import sys

def test_passes():
    assert "factory" not in sys.modules  # factory-boy is imported only when a test needs it

def test_fails():
    assert False
"""


def junit_properties(project: pytest.Pytester) -> dict[str, dict[str, str]]:
    return {
        case.get("name", ""): {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        for case in ET.parse(Path(project.path, "junit.xml")).iter("testcase")
    }


def test_a_project_without_factories_sees_no_seed(pytester: pytest.Pytester):
    pytester.makepyfile(test_plain=PLAIN)
    result = run(pytester, "-p", "no:randomly", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "factory data seed" not in output
    assert "replay with --tf-seed" not in output
    assert "- tenantfixtures -" not in output
    assert junit_properties(pytester) == {"test_passes": {}, "test_fails": {}}


def test_tf_seed_option_or_fixture_switches_seeding_on(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_seed="""
        def test_asks(tf_seed):
            assert tf_seed > 0

        def test_does_not():
            pass
        """
    )
    result = run(pytester, "-p", "no:randomly", "--junitxml=junit.xml")
    result.assert_outcomes(passed=2)
    assert "factory data seed" not in result.stdout.str()
    properties = junit_properties(pytester)
    assert set(properties["test_asks"]) == {SEED_PROPERTY}  # only the test that asked
    assert properties["test_does_not"] == {}

    result = run(pytester, "-p", "no:randomly", "--tf-seed=5", "--junitxml=junit.xml")
    result.stdout.fnmatch_lines(["tenantfixtures: factory data seed --tf-seed=5"])
    assert junit_properties(pytester)["test_does_not"] == {
        SEED_PROPERTY: str(seed_for(5, "test_seed.py::test_does_not"))
    }


FREEZER_SUITE = """
from datetime import date, datetime

import pytest


@pytest.mark.freeze_time("2017-05-21")
def test_marker_freezes():
    assert date.today() == date(2017, 5, 21)


@pytest.mark.freeze_time
def test_marker_and_fixture_move_one_clock(freezer):
    freezer.move_to("2017-05-20")
    assert date.today() == date(2017, 5, 20)


@pytest.fixture
def frozen_fixture(freezer):
    freezer.move_to("2020-01-01 10:00")


@pytest.mark.freeze_time("2018-01-01")
def test_fixture_moves_the_marked_clock(frozen_fixture):
    assert datetime.now() == datetime(2020, 1, 1, 10, 0)
"""


def test_pytest_freezer_keeps_its_freeze_time_marker(pytester: pytest.Pytester):
    pytest.importorskip("pytest_freezer")
    pytester.makepyfile(test_freezer=FREEZER_SUITE)
    result = run(pytester, "-p", "no:randomly", "-p", "freezer")
    result.assert_outcomes(passed=3)
    markers = run(pytester, "-p", "freezer", "--markers").stdout.str()
    assert len(re.findall(r"^@pytest\.mark\.freeze_time", markers, re.MULTILINE)) == 1
    assert "@pytest.mark.tf_freeze_time(time_to_freeze=None" in markers


DURATIONS = """
import time

import pytest


@pytest.fixture
def slow_setup():
    time.sleep(0.05)


@pytest.mark.tf_freeze_time("2026-03-01 12:00:00")
def test_frozen(slow_setup, frozen_time):
    frozen_time.tick(60)
    time.sleep(0.05)
    assert time.time() == 1772366460.0  # 2026-03-01 12:01:00 UTC: the test's clock is frozen
"""


def test_pytest_durations_stay_real_under_a_frozen_clock(pytester: pytest.Pytester):
    pytester.makepyfile(test_durations=DURATIONS)
    # without pytest-freezer, whose import adds _pytest.runner to freezegun's global ignore list
    args = ("-p", "no:freezer", "--durations=0", "-vv", "--junitxml=junit.xml")
    result = run(pytester, "-p", "no:randomly", *args)
    result.assert_outcomes(passed=1)
    phases = re.findall(r"^([\d.]+)s (setup|call|teardown) ", result.stdout.str(), re.MULTILINE)
    assert {phase for _, phase in phases} >= {"setup", "call"}
    assert all(0.04 < float(seconds) < 5 for seconds, phase in phases if phase != "teardown")
    (case,) = ET.parse(Path(pytester.path, "junit.xml")).iter("testcase")
    assert 0.09 < float(case.get("time", "0")) < 5
