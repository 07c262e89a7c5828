"""Shared helpers for the plugin's own tests (inner pytest sessions run through pytester)."""

import sys

import pytest


def run_offline(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner session in a network namespace of its own, holding only a loopback that is
    down: a connection the guard lets through fails at once (network unreachable), so a test
    of what is *allowed* never sends a packet to another machine."""
    return pytester.run(
        "unshare",
        "--net",
        "--map-current-user",
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "tenantfixtures",
        "-p",
        "no:randomly",
        *args,
    )
