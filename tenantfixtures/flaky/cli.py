"""Console subcommands of the flaky detector (nightly, report, ingest, ...)."""

import argparse


def add_commands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the flaky detector's subcommands on the `tenantfixtures` console script."""
