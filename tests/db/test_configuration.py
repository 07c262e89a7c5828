"""Configuration mistakes give one clear error naming the option and the fix."""

import sqlite3

import pytest

from tests.db.conftest import MINI_APP, TOPOLOGY_CONFTEST, snapshot

USES_TENANCY = """
def test_uses_tenancy(tenancy):
    pass
"""


def test_missing_topology_names_both_ways_to_configure(pytester):
    pytester.makepyfile(test_x=USES_TENANCY)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*tenantfixtures has no topology: define a session-scoped `tenant_topology` fixture*"]
    )


def test_tests_without_tenancy_are_untouched_when_unconfigured(pytester):
    pytester.makepyfile(test_x="def test_plain():\n    assert True\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("missingmodule:Base.metadata", "module 'missingmodule' cannot be imported"),
        ("miniapp:NoSuchBase.metadata", "'miniapp' has no attribute 'NoSuchBase.metadata'"),
        ("miniapp.SystemBase.metadata", "is not an import path"),
    ],
)
def test_bad_ini_import_path_is_a_usage_error(pytester, value, message):
    pytester.makepyfile(miniapp=MINI_APP, test_x=USES_TENANCY)
    pytester.makeini(
        f"""
        [pytest]
        pythonpath = .
        tenantfixtures_system_metadata = {value}
        tenantfixtures_tenant_metadata = miniapp:TenantBase.metadata
        tenantfixtures_data_dir = data
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: tenantfixtures_system_metadata = *{message}*"])


def test_incomplete_ini_names_the_missing_options(pytester):
    pytester.makepyfile(miniapp=MINI_APP, test_x=USES_TENANCY)
    pytester.makeini(
        """
        [pytest]
        pythonpath = .
        tenantfixtures_system_metadata = miniapp:SystemBase.metadata
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: incomplete tenantfixtures ini configuration: set"
            " tenantfixtures_tenant_metadata, tenantfixtures_data_dir*"
        ]
    )


def test_bad_tenant_db_pattern_is_a_usage_error(pytester):
    pytester.makepyfile(miniapp=MINI_APP, test_x=USES_TENANCY)
    pytester.makeini(
        "[pytest]\npythonpath = .\ntenantfixtures_data_dir = data\n"
        "tenantfixtures_tenant_db = organizations/tenant.db\n"
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *must contain the placeholder {tenant} once*"])


def test_fixture_returning_the_wrong_type_says_what_to_return(pytester):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def tenant_topology():
            return {"system": None}
        """
    )
    pytester.makepyfile(test_x=USES_TENANCY)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*the tenant_topology fixture returned dict, expected tenantfixtures.Topology*"]
    )


def _project_with_real_system_db(pytester: pytest.Pytester) -> None:
    """The mini app, and a real data dir whose system database already holds an org."""
    pytester.makepyfile(miniapp=MINI_APP, test_x=USES_TENANCY)
    data = pytester.path / "data"
    data.mkdir()
    with sqlite3.connect(data / "system.db") as connection:
        connection.execute("CREATE TABLE orgs (id VARCHAR PRIMARY KEY)")
        connection.execute("INSERT INTO orgs VALUES ('real-customer')")
    connection.close()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("tenantfixtures_system_db = systen.db", "is system_db a typo for system.db?"),
        ("tenantfixtures_data_dir = dat", "is data_dir a typo for 'data'?"),
    ],
)
def test_a_misspelt_ini_path_is_refused_before_the_app_is_imported(
    pytester: pytest.Pytester, option: str, message: str
) -> None:
    """Sandboxing the misspelt path would leave the real system database in every test's
    reach (and the app's import-time writes with it)."""
    _project_with_real_system_db(pytester)
    lines = ["[pytest]", "pythonpath = .", option]
    if "data_dir" not in option:
        lines.append("tenantfixtures_data_dir = data")
    lines += [
        "tenantfixtures_system_metadata = miniapp:SystemBase.metadata",
        "tenantfixtures_tenant_metadata = miniapp:TenantBase.metadata",
    ]
    pytester.makeini("\n".join(lines) + "\n")
    before = snapshot(pytester.path / "data")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: tenantfixtures ini options: *{message}*"])
    assert snapshot(pytester.path / "data") == before


def test_a_misspelt_topology_data_dir_fails_the_tests_that_use_it(
    pytester: pytest.Pytester,
) -> None:
    _project_with_real_system_db(pytester)
    pytester.makeconftest(TOPOLOGY_CONFTEST.replace("data_dir=miniapp.DATA_DIR", "data_dir='dat'"))
    pytester.makeini("[pytest]\npythonpath = .\n")
    before = snapshot(pytester.path / "data")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the tenant topology: *is data_dir a typo for 'data'?*"])
    assert snapshot(pytester.path / "data") == before


@pytest.mark.parametrize("value", [".", "../system.db", "/srv/system.db"])
def test_a_system_db_that_names_no_file_is_a_usage_error(
    pytester: pytest.Pytester, value: str
) -> None:
    pytester.makepyfile(miniapp=MINI_APP, test_x=USES_TENANCY)
    pytester.makeini(
        f"[pytest]\npythonpath = .\ntenantfixtures_data_dir = data\n"
        f"tenantfixtures_system_db = {value}\n"
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *system_db=* must be a file path relative to the data dir*"]
    )


LRU_APP = """
import functools

from sqlalchemy import create_engine

from miniapp import DATA_DIR


@functools.lru_cache
def tenant_engine(org_id):
    return create_engine(f"sqlite:///{DATA_DIR}/organizations/{org_id}/tenant.db")


def takes_an_org(org_id):
    return org_id
"""

LRU_TESTS = """
from lruapp import tenant_engine


def test_first(tenancy):
    tenancy.tenant("acme")
    assert tenant_engine("acme") is tenant_engine("acme")
    test_first.engine = tenant_engine("acme")


def test_second(tenancy):
    assert tenant_engine("acme") is not test_first.engine  # the cache was cleared
"""


def _lru_project(pytester: pytest.Pytester, cache: str) -> None:
    pytester.makepyfile(miniapp=MINI_APP, lruapp=LRU_APP, test_lru=LRU_TESTS)
    pytester.makeini(
        f"""
        [pytest]
        pythonpath = .
        tenantfixtures_system_metadata = miniapp:SystemBase.metadata
        tenantfixtures_tenant_metadata = miniapp:TenantBase.metadata
        tenantfixtures_data_dir = data
        tenantfixtures_engine_caches = {cache}
        """
    )


def test_an_lru_cache_engine_factory_is_cleared_after_each_test(pytester):
    _lru_project(pytester, "lruapp:tenant_engine")
    result = pytester.runpytest_subprocess("-p", "tenantfixtures", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_an_engine_cache_function_that_takes_arguments_is_a_usage_error(pytester):
    _lru_project(pytester, "lruapp:takes_an_org")
    result = pytester.runpytest_subprocess("-p", "tenantfixtures")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *engine cache 'takes_an_org' takes arguments*functools.lru_cache function*"]
    )
