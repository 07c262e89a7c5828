"""The security proof's closing line: counts from every walk, also under xdist (via reports)."""

from __future__ import annotations

import json

import pytest

COUNTS = "tenantfixtures_hostile_input_counts"
FIELDS = ("tried", "refused", "allowed", "leaked", "crashed")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    totals = dict.fromkeys(FIELDS, 0)
    walks = 0
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == COUNTS and getattr(report, "when", "") == "call":
                    walks += 1
                    for field, count in json.loads(value).items():
                        totals[field] += count
    if walks:
        terminalreporter.write_sep("=", "hostile input")
        terminalreporter.write_line(
            f"tried {totals['tried']} / refused with a clear error {totals['refused']}"
            f" / allowed as expected {totals['allowed']} / leaked {totals['leaked']}"
            f" / crashed {totals['crashed']} ({walks} walks)"
        )
