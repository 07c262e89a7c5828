"""The ``tenantfixtures doctor`` console command, run for real on a project."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.db.conftest import MINI_APP

DOCTOR = [str(Path(sys.executable).with_name("tenantfixtures")), "doctor"]


def doctor(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(DOCTOR, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_doctor_reports_a_healthy_project(mini_project):
    mini_project.makepyfile(test_one="def test_one():\n    raise AssertionError('not run')\n")
    result = doctor(mini_project.path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "topology        from the tenant_topology fixture" in result.stdout
    assert "tenant schema   1 tables: notes" in result.stdout
    assert result.stdout.count("built in") == 2, "a first run builds both templates"
    assert "isolation       namespace (available: overlay per test" in result.stdout
    assert "result          OK" in result.stdout
    assert "not run" not in result.stdout
    assert doctor(mini_project.path).stdout.count("reused") == 2, "second run reuses templates"


def test_doctor_names_a_missing_topology(pytester):
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = doctor(pytester.path)
    assert result.returncode == 1
    assert "PROBLEM         no topology: define a session-scoped tenant_topology fixture" in (
        result.stdout
    )


def test_doctor_shows_a_broken_ini_import_path(pytester):
    pytester.makepyfile(miniapp=MINI_APP, test_one="def test_one():\n    pass\n")
    pytester.makeini(
        "[pytest]\npythonpath = .\n"
        "tenantfixtures_system_metadata = miniapp:Nope.metadata\n"
        "tenantfixtures_tenant_metadata = miniapp:TenantBase.metadata\n"
        "tenantfixtures_data_dir = data\n"
    )
    result = doctor(pytester.path)
    assert result.returncode == 1
    assert "'miniapp' has no attribute 'Nope.metadata'" in result.stdout + result.stderr
    assert "result          problems found" in result.stdout


def test_doctor_names_the_redirect_mode_when_asked_for(mini_project):
    mini_project.makepyfile(test_one="def test_one():\n    pass\n")
    result = subprocess.run(
        [*DOCTOR, "--", "--tf-isolation=redirect"],
        cwd=mini_project.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "isolation       redirect (requested by --tf-isolation)" in result.stdout, result.stdout


@pytest.mark.parametrize("mode", ["namespace", "redirect"])
def test_doctor_counts_the_real_databases_in_either_mode(mini_project, mode):
    """The real data dir's databases are what doctor counts: in redirect mode the test's copy
    holds none (they come from the templates), and it once said 0 there."""
    mini_project.makepyfile(test_one="def test_one():\n    pass\n")
    organization = mini_project.path / "data" / "organizations" / "acme"
    organization.mkdir(parents=True)
    for database in (mini_project.path / "data" / "system.db", organization / "tenant.db"):
        sqlite3.connect(database).close()
    result = subprocess.run(
        [*DOCTOR, "--", f"--tf-isolation={mode}"],
        cwd=mini_project.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 database file(s) there, never opened by tests" in result.stdout, result.stdout
