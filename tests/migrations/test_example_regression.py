"""The proof on the example app (a copy of ``examples/``): its built-in checks catch a release
that adds a ``NOT NULL`` column without a default to the model, the lazy migration and the
Alembic history, and pass once the migration gives old rows a default.

Tests on fresh tenant databases (and ``upgrade_from_base``) pass either way: an empty table
has no rows for the ALTER to refuse.
"""

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKENS = "    tokens: Mapped[int] = mapped_column(Integer, default=0)\n"
LAZY_END = "]\n\n_tenant_engines"  # the end of the lazy migration's list
REVISION = '''"""release 4: message priority"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("priority", sa.Integer(), nullable=False{server_default}))


def downgrade() -> None:
    op.drop_column("messages", "priority")
'''


def release_4(app: Path, *, default: bool) -> None:
    """Add ``messages.priority`` where a release adds a column (model, lazy migration, Alembic
    revision) to the example's files, with a default for old rows or without."""
    with_default = ", default=0" if default else ""
    column = f"    priority: Mapped[int] = mapped_column(Integer{with_default})\n"
    models = (EXAMPLES / "app" / "models.py").read_text()
    (app / "app" / "models.py").write_text(models.replace(TOKENS, TOKENS + column))
    ddl = "ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL" + (
        " DEFAULT 0" if default else ""
    )
    lazy = (EXAMPLES / "app" / "database.py").read_text()
    step = f'    ("messages", "priority", "{ddl}"),\n'
    (app / "app" / "database.py").write_text(lazy.replace(LAZY_END, step + LAZY_END))
    server_default = ', server_default="0"' if default else ""
    revision = REVISION.format(server_default=server_default)
    (app / "migrations" / "versions" / "0004_release_4.py").write_text(revision)


@pytest.fixture
def council(pytester: pytest.Pytester) -> pytest.Pytester:
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.db")
    shutil.copytree(EXAMPLES, pytester.path, dirs_exist_ok=True, ignore=ignore)
    return pytester


def checks(council: pytest.Pytester) -> tuple[pytest.RunResult, dict[str, int]]:
    """Only the built-in checks; the example suite is collected and deselected."""
    result = council.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:cacheprovider", "-m", "migrations"
    )
    outcomes = result.parseoutcomes()
    return result, {key: outcomes.get(key, 0) for key in ("passed", "failed", "error")}


def test_the_example_checks_catch_a_not_null_column_without_default(council):
    release_4(council.path, default=False)
    result, outcomes = checks(council)
    # Old databases break, whichever migration runs them; an empty one does not.
    assert outcomes == {"passed": 3, "failed": 9, "error": 0}
    failed = {line.split()[1] for line in result.stdout.lines if line.startswith("FAILED ")}
    assert failed == {
        *(
            f"tenantfixtures::migrations::{name}::{check}"
            for name in ("release-1.sql", "release-2.sql", "alembic:0001")
            for check in ("reaches_models", "idempotent", "keeps_rows")
        )
    }
    result.stdout.fnmatch_lines(
        [
            "tenantfixtures::migrations::release-1.sql::reaches_models",
            "tenant snapshot release-1.sql: the migration fails:",
            "  OperationalError: (sqlite3.OperationalError) Cannot add a NOT NULL column with"
            " default value NULL",
            "[[]SQL: ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL[]]",
            "it left behind a database where the database schema does not match the models"
            " (1 error):",
            "  messages",
            "    error   column priority: missing from the database (model: INTEGER NOT NULL);"
            " SQLite refuses ADD COLUMN ... NOT NULL without a DEFAULT on a table with rows",
            "versions: SQLite *, SQLAlchemy *, Alembic *",
        ]
    )
    assert "Traceback" not in result.stdout.str()

    release_4(council.path, default=True)
    assert checks(council)[1] == {"passed": 12, "failed": 0, "error": 0}
