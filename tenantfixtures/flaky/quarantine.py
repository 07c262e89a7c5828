"""Quarantine-as-code: listed tests still run and are recorded, but cannot fail the build.

The file is TOML, one ``[[quarantine]]`` table per test with ``test``, ``owner``, ``reason`` and
``expires`` (a date). An expired entry stops the run: quarantine is a loan, not a grave.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEFAULT_FILE = "tenantfixtures-quarantine.toml"
_REQUIRED = ("test", "owner", "reason", "expires")
_TABLE = "quarantine"


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class QuarantineError(Exception):
    """The quarantine file is unreadable, malformed, or has expired entries."""


@dataclass(frozen=True)
class Entry:
    test: str
    owner: str
    reason: str
    expires: dt.date


def _entry(raw: Any, index: int, path: Path) -> Entry:
    if not isinstance(raw, dict):
        raise QuarantineError(f"{path}: entry {index} must be a [[quarantine]] table")
    unknown = sorted(set(raw) - set(_REQUIRED))
    if unknown:
        raise QuarantineError(
            f"{path}: entry {index} has unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}{_did_you_mean(unknown[0], _REQUIRED)}; the keys"
            " are test, owner, reason and expires"
        )
    missing = [key for key in _REQUIRED if not raw.get(key)]
    if missing:
        raise QuarantineError(
            f"{path}: entry {index} lacks {', '.join(missing)}; every entry needs "
            "test, owner, reason and expires (e.g. expires = 2026-06-30)"
        )
    expires = raw["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            expires = None
    if isinstance(expires, dt.datetime):
        expires = expires.date()
    if not isinstance(expires, dt.date):
        raise QuarantineError(f"{path}: entry {index} expires must be a date like 2026-06-30")
    return Entry(str(raw["test"]), str(raw["owner"]), str(raw["reason"]), expires)


def load(path: Path) -> list[Entry]:
    """Parse the quarantine file; every problem is a :class:`QuarantineError` naming the fix."""
    import tomllib  # here, not at start-up: most projects have no quarantine file

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise QuarantineError(f"cannot read quarantine file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise QuarantineError(f"quarantine file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {_TABLE})
    if unknown:
        raise QuarantineError(
            f"{path}: unknown table or key {unknown[0]!r}{_did_you_mean(unknown[0], [_TABLE])};"
            " the file holds only [[quarantine]] tables"
        )
    raw_entries = data.get(_TABLE, [])
    if not isinstance(raw_entries, list):
        raise QuarantineError(f"{path}: use [[quarantine]] tables, one per test")
    return [_entry(raw, index, path) for index, raw in enumerate(raw_entries, 1)]


def expired(entries: list[Entry], today: dt.date | None = None) -> list[Entry]:
    today = today or dt.date.today()
    return [entry for entry in entries if entry.expires < today]


def expiry_message(stale: list[Entry], path: Path) -> str:
    lines = [f"{path}: {len(stale)} quarantine entr{'y' if len(stale) == 1 else 'ies'} expired:"]
    lines += [
        f"  {e.test} (owner {e.owner}, expired {e.expires.isoformat()}, reason: {e.reason})"
        for e in stale
    ]
    lines.append("fix the test and remove its entry, or extend 'expires' with a reason")
    return "\n".join(lines)


class QuarantinePlugin:
    """Lets a run pass when its only failures are quarantined (the terminal still shows them)."""

    def __init__(self, entries: list[Entry]) -> None:
        self.tests = {entry.test for entry in entries}
        self.failed: set[str] = set()
        self.ignored: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.ignored = self.failed & self.tests
        if self.ignored == self.failed and session.exitstatus == pytest.ExitCode.TESTS_FAILED:
            session.exitstatus = pytest.ExitCode.OK

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.ignored:
            terminalreporter.write_sep("=", "tenantfixtures quarantine", yellow=True)
            for nodeid in sorted(self.ignored):
                terminalreporter.write_line(
                    f"quarantined failure (does not fail the build): {nodeid}"
                )
