"""Schema templates: one build per run across xdist workers, reused across runs, rebuilt on
schema change, and a failed build reported once."""

import os
import subprocess
import sys
import time

from tests.db.conftest import MINI_APP, TOPOLOGY_CONFTEST

# The mini app's conftest, with a tenant initializer that logs each template build.
COUNTING_CONFTEST = TOPOLOGY_CONFTEST.replace(
    "\n\n@pytest.fixture",
    """

def build_tenant_schema(engine):
    with open("builds.log", "a") as log:
        log.write("tenant build\\n")
    miniapp.TenantBase.metadata.create_all(engine)
    miniapp.migrate(engine)


@pytest.fixture""",
).replace(
    "        engine_caches=",
    "        tenant_initializer=build_tenant_schema,\n        engine_caches=",
)

MANY_TESTS = """
import pytest
import miniapp

@pytest.mark.parametrize("n", range(8))
def test_note(tenancy, n):
    miniapp.add_note(f"org{n}", "x")
    assert miniapp.notes(f"org{n}") == ["x"]
"""


def counting_project(pytester):
    pytester.makepyfile(miniapp=MINI_APP, test_many=MANY_TESTS)
    pytester.makeconftest(COUNTING_CONFTEST)
    pytester.makeini("[pytest]\npythonpath = .\n")
    (pytester.path / "data").mkdir()
    return pytester


def builds(pytester):
    log = pytester.path / "builds.log"
    return log.read_text().count("tenant build") if log.exists() else 0


def test_one_build_shared_by_xdist_workers_then_reused(pytester):
    counting_project(pytester)
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=8)
    assert builds(pytester) == 1
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=8)
    assert builds(pytester) == 1, "the second run must reuse the cached template"


def test_schema_change_rebuilds_the_template(pytester):
    counting_project(pytester)
    pytester.runpytest_subprocess().assert_outcomes(passed=8)
    (first,) = (pytester.path / ".pytest_cache").rglob("tenant-*.sqlite3")
    changed = MINI_APP.replace(
        "    stars = Column(Integer, default=0)\n",
        "    stars = Column(Integer, default=0)\n    pinned = Column(Integer, default=0)\n",
    )
    pytester.makepyfile(miniapp=changed)
    pytester.makepyfile(
        test_pinned="""
        from sqlalchemy import text

        def test_new_column_exists(tenant_db):
            tenant_db.execute(text("SELECT pinned FROM notes"))
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=9)
    assert builds(pytester) == 2
    templates = set((pytester.path / ".pytest_cache").rglob("tenant-*.sqlite3"))
    assert first in templates, "a template used recently (by another run, maybe) is kept"
    assert len(templates) == 2
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(first, (week_ago, week_ago))
    pytester.makepyfile(miniapp=changed.replace("pinned", "flagged"))
    pytester.makepyfile(test_pinned="def test_x():\n    pass\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=9)
    templates = set((pytester.path / ".pytest_cache").rglob("tenant-*.sqlite3"))
    assert first not in templates, "a template unused for a week is collected"
    assert len(templates) == 2


def test_migration_files_are_part_of_the_key(pytester):
    counting_project(pytester)
    (pytester.path / "migrations").mkdir()
    (pytester.path / "migrations" / "001.sql").write_text("-- first\n")
    conftest = COUNTING_CONFTEST.replace(
        "        engine_caches=",
        '        migrations=["migrations/001.sql"],\n        engine_caches=',
    )
    pytester.makeconftest(conftest)
    pytester.runpytest_subprocess().assert_outcomes(passed=8)
    pytester.runpytest_subprocess().assert_outcomes(passed=8)
    (pytester.path / "migrations" / "001.sql").write_text("-- first, edited\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=8)
    assert builds(pytester) == 2


def test_a_failing_build_is_reported_once_with_its_cause(pytester):
    counting_project(pytester)
    pytester.makeconftest(
        COUNTING_CONFTEST.replace(
            "    miniapp.TenantBase.metadata.create_all(engine)\n",
            "    raise RuntimeError('the tenant migration is broken')\n",
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(errors=1)
    assert result.stdout.str().count("ERROR at setup") == 1
    result.stdout.fnmatch_lines(
        [
            "*TemplateBuildError: building the tenant schema template failed:"
            " RuntimeError: the tenant migration is broken*",
            "*! tenantfixtures could not build its schema templates !*",
        ]
    )


def test_a_failing_build_under_xdist_shows_its_cause_once(pytester):
    """Each worker stops after one error; only the worker that built shows the traceback, the
    other points at it instead of failing the same way again."""
    counting_project(pytester)
    pytester.makeconftest(
        COUNTING_CONFTEST.replace(
            "    miniapp.TenantBase.metadata.create_all(engine)\n",
            "    raise RuntimeError('the tenant migration is broken')\n",
        )
    )
    result = pytester.runpytest_subprocess("-n", "2")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 0
    output = result.stdout.str()
    assert output.count("raise RuntimeError('the tenant migration is broken')") == 1
    assert builds(pytester) == 1
    if outcomes["errors"] == 2:  # the second worker reached the template before stopping
        assert "failed to build in another worker of this run" in output


def test_two_concurrent_runs_with_different_schemas_share_the_template_dir(pytester, tmp_path):
    """tox -p with two SQLAlchemy versions: one checkout, one template dir, two schema keys at
    once. Neither run may delete the other's templates."""
    app = MINI_APP + (
        "\nif os.environ.get('TF_EXTRA_COLUMN'):\n"
        "    TenantBase.metadata.tables['notes'].append_column(Column('extra', Integer))\n"
    )
    counting_project(pytester).makepyfile(miniapp=app)
    # Each run's import-time create_all goes to its own sandbox, not to one real system.db.
    pytester.makeini("[pytest]\npythonpath = .\ntenantfixtures_data_dir = data\n")
    runs = []
    for n, extra in enumerate(["", "1"]):
        env = {**os.environ, "TF_EXTRA_COLUMN": extra}
        command = [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:randomly", "-q"]
        command.append(f"--basetemp={tmp_path / f'run{n}'}")
        runs.append(
            subprocess.Popen(command, cwd=pytester.path, env=env, stdout=subprocess.PIPE, text=True)
        )
    outputs = [run.communicate()[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(outputs)
    assert all("8 passed" in output for output in outputs)
    templates = pytester.path / ".pytest_cache" / "d" / "tenantfixtures-templates"
    assert len({path.name for path in templates.glob("tenant-*.sqlite3")}) == 2  # both keys kept
