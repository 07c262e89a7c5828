"""Configuration mistakes give one clear error naming the option and the fix."""

import pytest

from tests.db.conftest import MINI_APP

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
