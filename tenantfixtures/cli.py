"""The ``tenantfixtures`` console script: one subcommand per job, each returning an exit code."""

import argparse
from collections.abc import Sequence

from tenantfixtures.flaky import cli as flaky_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tenantfixtures", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    flaky_cli.add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Each subcommand sets ``handler``: a callable taking the parsed args, returning the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
