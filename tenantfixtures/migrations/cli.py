"""``tenantfixtures snapshot --tenant|--system [--rows N] > FILE``: today's schema as a SQL
snapshot, so a team freezes each released schema once and checks its migration forever.

Like ``tenantfixtures doctor`` it runs pytest in-process on the project and sets up one
collected test, which builds (or reuses) the schema templates through the project's own
topology; the template is then dumped. Pytest's output goes to stderr, the SQL to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tenantfixtures.migrations.dump import dump_sql
from tenantfixtures.migrations.seed import seed_empty_tables


class _TemplateGrabber:
    """A pytest plugin object: keeps one test and takes the template its setup built."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.template: bytes | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        del items[1:]

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool:
        from tenantfixtures.plugin import CONTROLLER

        templates = pyfuncitem.config.stash[CONTROLLER].templates
        if templates is not None:
            self.template = getattr(templates, self.kind).read_bytes()
        return True


def run(kind: str, rows: int, pytest_args: Sequence[str]) -> int:
    grabber = _TemplateGrabber(kind)
    args = ["-p", "tenantfixtures", "-p", "tenantfixtures.migrations.plugin", "-q"]
    args += [
        "-p",
        "no:randomly",
        "-p",
        "no:xdist",
        "--tf-no-migration-checks",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]
    with contextlib.redirect_stdout(sys.stderr):
        exit_code = pytest.main([*args, *pytest_args], plugins=[grabber])
    if grabber.template is None:
        print(
            f"tenantfixtures snapshot: no {kind} template was built (pytest exit code"
            f" {int(exit_code)}): the project needs a topology and at least one collected test;"
            " `tenantfixtures doctor` says what is missing",
            file=sys.stderr,
        )
        return 1
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "snapshot.sqlite3"
        path.write_bytes(grabber.template)
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            skipped = seed_empty_tables(connection, rows) if rows else {}
            title = f"{kind} schema" + (f" with {rows} sample row(s) per table" if rows else "")
            sys.stdout.write(dump_sql(connection, title))
        finally:
            connection.close()
    for table, reason in skipped.items():
        print(f"tenantfixtures snapshot: no sample rows in {table}: {reason}", file=sys.stderr)
    return 0


def add_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "snapshot",
        help="write the current tenant or system schema as a SQL snapshot (to stdout)",
        description="Write today's tenant or system schema as a SQL snapshot, so a team"
        " freezes each released schema once and checks its migration forever. Like doctor, it"
        " runs pytest in-process on the project and builds (or reuses) the schema templates"
        " through the project's own topology. Pytest's output goes to stderr, the SQL to"
        " stdout: tenantfixtures snapshot --tenant > snapshots/tenant-v3.sql",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--tenant",
        dest="kind",
        action="store_const",
        const="tenant",
        help="snapshot the tenant schema (one of --tenant and --system is required)",
    )
    which.add_argument(
        "--system",
        dest="kind",
        action="store_const",
        const="system",
        help="snapshot the system schema (one of --tenant and --system is required)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=0,
        metavar="N",
        help="add N synthetic rows per table: migrations that break only on tables holding"
        " rows (SQLite's ADD COLUMN ... NOT NULL) need them (default: 0)",
    )
    parser.add_argument(
        "pytest_args",
        nargs="*",
        metavar="PYTEST_ARG",
        help="extra pytest arguments, after -- (default: none)",
    )
    parser.set_defaults(handler=lambda args: run(args.kind, args.rows, args.pytest_args))
