"""Set-up mistakes around the recorder are one usage error (exit 4) naming the fix, never an
INTERNALERROR (exit 3); the history file is the recorder's, never the sandbox's."""

import os

import pytest

from tests.db.conftest import MODELS

APP = (
    "from sqlalchemy import Column, Integer, String\nfrom sqlalchemy.orm import DeclarativeBase\n"
    + MODELS
)
INI = """
[pytest]
pythonpath = .
tenantfixtures_system_metadata = {module}:SystemBase.metadata
tenantfixtures_tenant_metadata = app:TenantBase.metadata
tenantfixtures_data_dir = data
"""


def _project(pytester: pytest.Pytester, test: str, module: str = "app") -> None:
    pytester.makepyfile(app=APP, test_x=test)
    pytester.makeini(INI.format(module=module))
    pytester.mkdir("data")


def _usage_error(result: pytest.RunResult) -> str:
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "INTERNALERROR" not in output
    return result.stderr.str()


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("afile/h.db", "cannot create */afile/h.db.spool: Not a directory"),
        ("/proc/h.db", "cannot create /proc/h.db.spool: No such file or directory"),
        ("~no-such-user-tf/h.db", "not a usable path: Could not determine home directory"),
        ("a" * 300 + "/h.db", "not a usable path: File name too long"),
    ],
    ids=["parent-is-a-file", "unwritable-even-for-root", "unknown-home", "name-too-long"],
)
def test_unusable_history_location_is_one_usage_error(pytester, target, problem):
    pytester.makepyfile("def test_a(): pass\n")
    pytester.path.joinpath("afile").write_text("x")
    result = pytester.runpytest_subprocess("-p", "tenantfixtures", f"--tf-history={target}")
    stderr = _usage_error(result)
    assert f"ERROR: --tf-history={target}: " in stderr
    result.stderr.fnmatch_lines([f"*{problem}*pass a file in a writable directory*"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only directory")
def test_read_only_history_directory_is_one_usage_error(pytester):
    pytester.makepyfile("def test_a(): pass\n")
    locked = pytester.mkdir("locked")
    locked.chmod(0o500)
    try:
        result = pytester.runpytest_subprocess("-p", "tenantfixtures", "--tf-history=locked/h.db")
    finally:
        locked.chmod(0o700)
    _usage_error(result)
    result.stderr.fnmatch_lines(["*--tf-history=locked/h.db: cannot create*Permission denied*"])


def test_history_inside_the_data_dir_is_one_usage_error(pytester):
    """Every test sees the data dir as its own copy: a history there would lose attempts."""
    _project(pytester, "def test_a(tenancy): pass\n")
    result = pytester.runpytest_subprocess("--tf-history=data/h.db")
    _usage_error(result)
    result.stderr.fnmatch_lines(
        ["ERROR: */data/h.db lies inside the app's data dir */data*--tf-history=reports/*"]
    )
    assert not pytester.path.joinpath("data", "h.db").exists()


def test_history_inside_a_data_dir_known_from_a_fixture_fails_its_tests(pytester):
    """A topology from a conftest fixture is known only once a test asks for it: each test
    errors with the same message (the recorder, configured before, still writes there)."""
    pytester.makepyfile(app=APP, test_x="def test_a(tenancy): pass\n")
    pytester.makeconftest(
        """
        import pytest
        import tenantfixtures
        import app

        @pytest.fixture(scope="session")
        def tenant_topology():
            return tenantfixtures.Topology(
                system=app.SystemBase.metadata, tenant=app.TenantBase.metadata, data_dir="data"
            )
        """
    )
    pytester.makeini("[pytest]\npythonpath = .\n")
    pytester.mkdir("data")
    result = pytester.runpytest_subprocess("--tf-history=data/h.db", "-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*data/h.db lies inside the app's data dir *--tf-history=*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_test_reading_the_history_is_no_sandbox_escape(pytester):
    """The history file is passed through the sandbox: a test (or the recorder, mid-test)
    opening it reaches the real file, and the escape guard does not object."""
    _project(
        pytester,
        """
        import sqlite3

        def test_reads_history(tenancy):
            with sqlite3.connect("h.db") as conn:
                assert conn.execute("SELECT count(*) FROM tf_runs").fetchone() == (1,)
        """,
    )
    result = pytester.runpytest_subprocess("--tf-history=h.db")
    result.assert_outcomes(passed=1)
    assert "sandbox escape" not in result.stdout.str()


def test_metadata_module_failing_on_import_is_one_usage_error(pytester):
    _project(pytester, "def test_a(tenancy): pass\n", module="broken")
    pytester.makepyfile(broken='raise RuntimeError("APP_ENV is not set")\n')
    result = pytester.runpytest_subprocess("--tf-history=h.db")
    _usage_error(result)
    result.stderr.fnmatch_lines(
        [
            "ERROR: tenantfixtures_system_metadata = 'broken:SystemBase.metadata': importing"
            " 'broken' raised RuntimeError: APP_ENV is not set; fix that module*"
        ]
    )
