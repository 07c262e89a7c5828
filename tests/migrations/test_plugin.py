"""The built-in checks as collected items, run in inner pytest sessions on the mini app."""

import pytest

from tests.migrations.conftest import NOTES_V1, NOTES_V2, PLUGIN_ARGS, write_alembic, write_app

CHECK_IDS = [
    "tenantfixtures::migrations::release-1.sql::reaches_models",
    "tenantfixtures::migrations::release-1.sql::idempotent",
    "tenantfixtures::migrations::release-1.sql::keeps_rows",
]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*PLUGIN_ARGS, "-p", "tenantfixtures", *args)


def test_a_healthy_migration_passes_every_check_with_these_node_ids(project):
    result = run(project, "-v")
    for node_id in CHECK_IDS:
        result.stdout.fnmatch_lines([f"{node_id} PASSED*"])
    result.assert_outcomes(passed=4)


def test_a_not_null_column_without_default_fails_old_databases_only(project):
    """The regression: the model and the lazy migration gain `priority INTEGER NOT NULL`.
    Fresh databases (the template) are fine; every old tenant database holding rows breaks."""
    write_app(
        project.path,
        columns="    priority = Column(Integer, nullable=False)",
        migrations='    ("priority", ["ALTER TABLE notes ADD COLUMN priority INTEGER NOT NULL"]),',
    )
    result = run(project)
    result.assert_outcomes(passed=1, failed=3)  # test_fresh_tenant passes: the trap
    result.stdout.fnmatch_lines(
        [
            "tenantfixtures::migrations::release-1.sql::reaches_models",
            "tenant snapshot release-1.sql: the migration fails:",
            "  OperationalError: (sqlite3.OperationalError) Cannot add a NOT NULL column with"
            " default value NULL",
            "[[]SQL: ALTER TABLE notes ADD COLUMN priority INTEGER NOT NULL[]]",
            "it left behind a database where the database schema does not match the models"
            " (1 error):",
            "  notes",
            "    error   column priority: missing from the database (model: INTEGER NOT NULL);"
            " SQLite refuses ADD COLUMN ... NOT NULL without a DEFAULT on a table with rows",
            "versions: SQLite *, SQLAlchemy *, Alembic *",
        ]
    )
    assert "Traceback" not in result.stdout.str()

    write_app(  # the fix: a default for the rows that already exist
        project.path,
        columns="    priority = Column(Integer, nullable=False, default=0)",
        migrations='    ("priority", ["ALTER TABLE notes ADD COLUMN priority INTEGER NOT NULL'
        ' DEFAULT 0"]),',
    )
    run(project).assert_outcomes(passed=4)


def test_a_nullable_stand_in_column_is_reported_by_reaches_models_and_keeps_rows(project):
    write_app(
        project.path,
        columns="    priority = Column(Integer, nullable=False, default=0)",
        migrations='    ("priority", ["ALTER TABLE notes ADD COLUMN priority INTEGER"]),',
    )
    result = run(project, "-k", "reaches_models or keeps_rows")
    result.assert_outcomes(failed=2, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "tenant snapshot release-1.sql: after the migration, the database schema does not"
            " match the models (1 error):",
            "    error   column priority: the database allows NULL, the model says NOT NULL*",
            "tenant snapshot release-1.sql: the migration does not keep the data:",
            "  - notes.priority: NULL in 2 of 2 old row(s); the model says NOT NULL",
        ]
    )


def test_idempotent_catches_a_backfill_lost_in_a_crash(project):
    """pysqlite commits the ALTER at once; a crash before the UPDATE leaves the column, and the
    'column exists: skip' guard never backfills it."""
    write_app(
        project.path,
        columns="    score = Column(Integer)",
        migrations='    ("score", ["ALTER TABLE notes ADD COLUMN score INTEGER",'
        ' "UPDATE notes SET score = 10"]),',
    )
    result = run(project, "-k", "idempotent")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(
        [
            "tenant snapshot release-1.sql: a half-migrated database is not repaired by running"
            " the migration again.",
            "The first run was killed after statement 2 of 3 (ALTER TABLE notes ADD COLUMN score"
            " INTEGER); after a rerun:",
            "  - notes: 2 row(s) after an uninterrupted run, 2 after the crash and a rerun;"
            " e.g. {*'score': 10*} only after an uninterrupted run; e.g. {*'score': None*}"
            " only after the crash and a rerun",
        ]
    )


def test_xdist_workers_collect_the_same_checks(project):
    result = run(project, "-n", "2")
    result.assert_outcomes(passed=4)


def test_without_ini_lines_nothing_is_collected_or_imported(project):
    project.makeini("[pytest]\npythonpath = .\ntestpaths = tests\n")
    project.makepyfile(
        **{
            "tests/test_inert": "import sys\n\n"
            "def test_inert():\n"
            "    assert 'alembic' not in sys.modules\n"
            "    assert 'tenantfixtures.migrations.checks' not in sys.modules\n"
        }
    )
    result = run(project, "-v")
    result.assert_outcomes(passed=2)
    assert "tenantfixtures::migrations" not in result.stdout.str()


def test_the_checks_can_be_switched_off_and_deselected(project):
    run(project, "--tf-no-migration-checks").assert_outcomes(passed=1)
    run(project, "-m", "not migrations").assert_outcomes(passed=1, deselected=3)
    run(project, "tests/test_app.py::test_fresh_tenant").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "tenantfixtures_tenant_snapshots = nowhere/*.sql",
            "*tenantfixtures_tenant_snapshots = nowhere/*.sql: matches no file under*",
        ),
        (
            "tenantfixtures_tenant_snapshots = alembic:a1",
            "*alembic:a1: alembic: snapshots need tenantfixtures_alembic*",
        ),
        (
            "tenantfixtures_alembic = missing.ini",
            "*Alembic config */missing.ini does not exist*",
        ),
        (
            "tenantfixtures_tenant_snapshots = snapshots/*.sql\n"
            "tenantfixtures_system_snapshots = snapshots/*.sql",
            "*several snapshots are named release-1.sql*",
        ),
    ],
)
def test_configuration_mistakes_are_usage_errors(project, ini, message):
    project.makeini(f"[pytest]\npythonpath = .\ntestpaths = tests\n{ini}\n")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_alembic_adds_history_checks_and_checks_alembic_snapshots(project):
    write_alembic(project.path, NOTES_V1, NOTES_V2)
    project.makeini(
        "[pytest]\npythonpath = .\ntestpaths = tests\n"
        "tenantfixtures_alembic = alembic.ini\n"
        "tenantfixtures_tenant_snapshots = snapshots/*.sql\n    alembic:a1\n"
    )
    result = run(project, "-v")
    result.stdout.fnmatch_lines_random(
        [
            "tenantfixtures::migrations::alembic:a1::reaches_models PASSED*",
            "tenantfixtures::migrations::alembic:a1::idempotent PASSED*",
            "tenantfixtures::migrations::alembic:a1::keeps_rows PASSED*",
            "tenantfixtures::migrations::alembic::single_head PASSED*",
            "tenantfixtures::migrations::alembic::upgrade_from_base PASSED*",
            "tenantfixtures::migrations::alembic::downgrade_upgrade_roundtrip PASSED*",
        ]
    )
    result.assert_outcomes(passed=10)


def test_idempotent_catches_alembic_on_pysqlite_without_transactional_ddl(project):
    write_alembic(project.path, NOTES_V1, NOTES_V2, transactional=False)
    project.makeini(
        "[pytest]\npythonpath = .\ntestpaths = tests\ntenantfixtures_alembic = alembic.ini\n"
        "tenantfixtures_tenant_snapshots = alembic:a1\n"
    )
    result = run(project, "-k", "alembic:a1 and idempotent")
    result.assert_outcomes(failed=1, deselected=6)
    result.stdout.fnmatch_lines(
        [
            "tenant snapshot alembic:a1 (synthetic rows in notes), migrated by alembic upgrade"
            " head: the migration fails when rerun on a database whose migration was killed"
            " after statement 1 of 2 (ALTER TABLE notes ADD COLUMN stars *):",
            "  OperationalError: (sqlite3.OperationalError) duplicate column name: stars",
        ]
    )


def test_an_unknown_alembic_revision_is_a_usage_error(project):
    write_alembic(project.path, NOTES_V1)
    project.makeini(
        "[pytest]\npythonpath = .\ntestpaths = tests\ntenantfixtures_alembic = alembic.ini\n"
        "tenantfixtures_tenant_snapshots = alembic:nope\n"
    )
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown Alembic revision 'nope' in */alembic.ini*known revisions: a1"]
    )


def test_system_snapshots_are_checked_against_the_system_models(project):
    (project.path / "snapshots" / "system-1.sql").write_text(
        "CREATE TABLE orgs (id VARCHAR PRIMARY KEY, legacy TEXT NOT NULL);\n"
        "INSERT INTO orgs VALUES ('old-org', 'x');\n"
    )
    project.makeini(
        "[pytest]\npythonpath = .\ntestpaths = tests\n"
        "tenantfixtures_system_snapshots = snapshots/system-*.sql\n"
    )
    result = run(project)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "tenantfixtures::migrations::system-1.sql::reaches_models",
            "system snapshot system-1.sql: after the migration, the database schema does not"
            " match the models (1 error):",
            "  orgs",
            "    error   column legacy: in the database only (TEXT NOT NULL); inserts through the"
            " models will fail: it is NOT NULL without a DEFAULT",
        ]
    )
