"""The ``tenantfixtures`` console script: one subcommand per job, each returning an exit code."""

import argparse
from collections.abc import Sequence
from importlib.metadata import version

from tenantfixtures import doctor
from tenantfixtures.flaky import cli as flaky_cli
from tenantfixtures.migrations import cli as migrations_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenantfixtures",
        description="Check a project's tenantfixtures setup, and find, report and quarantine"
        " flaky tests.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version('tenantfixtures')}"
    )
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of the commands below"
    )
    doctor.add_command(subparsers)
    migrations_cli.add_command(subparsers)
    flaky_cli.add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Each subcommand sets ``handler``: a callable from the parsed args to an exit code."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
