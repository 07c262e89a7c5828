"""``tenantfixtures snapshot``: today's schema as SQL that ``materialize`` replays."""

import sqlite3
import subprocess
import sys

from tenantfixtures.migrations import materialize

SNAPSHOT = """
import argparse, sys
from tenantfixtures.migrations import cli
parser = argparse.ArgumentParser()
cli.add_command(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def test_snapshot_writes_the_template_schema_with_sample_rows(project, tmp_path):
    command = [sys.executable, "-c", SNAPSHOT, "snapshot", "--tenant", "--rows", "3"]
    result = subprocess.run(command, cwd=project.path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("-- tenant schema with 3 sample row(s) per table\n")
    assert "passed" not in result.stdout, "pytest's own output goes to stderr"
    (tmp_path / "now.sql").write_text(result.stdout)
    materialize(tmp_path / "now.sql", tmp_path / "now.db")
    connection = sqlite3.connect(tmp_path / "now.db")
    assert connection.execute("SELECT count(*), min(stars) FROM notes").fetchone() == (3, 1)
    connection.close()


def test_snapshot_of_the_system_schema(project, tmp_path):
    command = [sys.executable, "-c", SNAPSHOT, "snapshot", "--system", "--rows", "2"]
    result = subprocess.run(command, cwd=project.path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("-- system schema with 2 sample row(s) per table\n")
    (tmp_path / "system.sql").write_text(result.stdout)
    materialize(tmp_path / "system.sql", tmp_path / "system.db")
    connection = sqlite3.connect(tmp_path / "system.db")
    assert connection.execute("SELECT id FROM orgs ORDER BY id").fetchall() == [
        ("id 1",),
        ("id 2",),
    ]
    assert (
        connection.execute("SELECT name FROM sqlite_master WHERE name = 'notes'").fetchall() == []
    )
    connection.close()


def test_snapshot_without_a_topology_says_what_to_do(pytester):
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    command = [sys.executable, "-c", SNAPSHOT, "snapshot", "--system"]
    result = subprocess.run(command, cwd=pytester.path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "no system template was built" in result.stderr
    assert result.stdout == ""
