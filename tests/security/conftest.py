"""The security proof's closing line: counts from every walk, also under xdist (via reports)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest

COUNTS = "tenantfixtures_hostile_input_counts"
FIELDS = ("tried", "refused", "allowed", "leaked", "crashed")


def record_counts(
    record_property: Callable[[str, object], None], counts: Counter[str], problems: list[str]
) -> None:
    """A walk's closing: its counts recorded for the summary and printed, and the verdict
    (nothing leaked, nothing crashed; the problems listed if not)."""
    counts["tried"] = sum(counts[field] for field in FIELDS if field != "tried")
    figures = {field: counts[field] for field in FIELDS}
    record_property(COUNTS, json.dumps(figures))
    print(
        f"tried {figures['tried']} / refused with a clear error {figures['refused']}"
        f" / allowed as expected {figures['allowed']} / leaked {figures['leaked']}"
        f" / crashed {figures['crashed']}"
    )
    assert figures["leaked"] == 0, "\n\n".join(problems)
    assert figures["crashed"] == 0, "\n\n".join(problems)


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
