"""Per-test statistics and classification over the stored history.

Aggregates run in SQL (one pass with a window function for flips), so a report over a million
attempts stays within seconds; only tests that failed at least once get a closer look.
"""

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tenantfixtures.flaky.store import FAILED_OUTCOMES, attempts, findings, runs

CLASSES = ("broken", "order-dependent", "parallel-only", "flaky", "stable")
EXECUTED = ("passed", "xpassed", *FAILED_OUTCOMES)
MIN_SERIAL_PASSES = 2


@dataclass
class TestReport:
    """One test's figures and verdict; ``to_json`` is the report contract's test entry."""

    nodeid: str
    attempts: int
    failures: int
    first_attempts: int
    first_failures: int
    final_failures: int
    flips: int
    last_seen: float
    classification: str = "stable"
    culprits: list[str] = field(default_factory=list)
    evidence: str = ""
    history: list[tuple[float, bool]] = field(default_factory=list)
    quarantine: dict[str, Any] | None = None

    @property
    def failure_rate(self) -> float:
        return self.failures / self.attempts if self.attempts else 0.0

    def to_json(self) -> dict[str, Any]:
        low, high = wilson(self.failures, self.attempts)
        return {
            "nodeid": self.nodeid,
            "classification": self.classification,
            "attempts": self.attempts,
            "failures": self.failures,
            "failure_rate": round(self.failure_rate, 4),
            "culprits": list(self.culprits),
            "evidence": self.evidence,
            "failure_rate_ci95": [round(low, 4), round(high, 4)],
            "first_attempt_failure_rate": _rate(self.first_failures, self.first_attempts),
            "final_failure_rate": _rate(self.final_failures, self.first_attempts),
            "flip_rate": _rate(self.flips, self.attempts - 1),
            "last_seen": iso(self.last_seen),
            "quarantine": self.quarantine,
        }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def wilson(failures: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval: sane at 0 and n failures, unlike the normal approximation."""
    if n == 0:
        return 0.0, 1.0
    p = failures / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _window(since: float | None) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [attempts.c.outcome.in_(EXECUTED)]
    if since is not None:
        where.append(attempts.c.started_at >= since)
    return where


def _aggregate(conn: Connection, since: float | None) -> list[TestReport]:
    failed = sa.case((attempts.c.outcome.in_(FAILED_OUTCOMES), 1), else_=0)
    query = (
        sa.select(
            attempts.c.nodeid,
            sa.func.count(),
            sa.func.sum(failed),
            sa.func.sum(sa.case((attempts.c.attempt == 0, 1), else_=0)),
            sa.func.sum(sa.case(((attempts.c.attempt == 0) & (failed == 1), 1), else_=0)),
            sa.func.sum(sa.case((attempts.c.outcome.in_(("failed", "error")), 1), else_=0)),
            sa.func.max(attempts.c.started_at),
        )
        .where(*_window(since))
        .group_by(attempts.c.nodeid)
    )
    return [
        TestReport(
            nodeid=row[0],
            attempts=int(row[1]),
            failures=int(row[2]),
            first_attempts=int(row[3]),
            first_failures=int(row[4]),
            final_failures=int(row[5]),
            flips=0,
            last_seen=float(row[6]),
        )
        for row in conn.execute(query)
    ]


def _count_flips(conn: Connection, tests: Sequence[TestReport], since: float | None) -> None:
    """Outcome changes between consecutive attempts; only tests that failed can flip."""
    by_id = {test.nodeid: test for test in tests}
    for chunk in _chunks(list(by_id)):
        query = (
            sa.select(attempts.c.nodeid, attempts.c.outcome)
            .where(attempts.c.nodeid.in_(chunk), *_window(since))
            .order_by(attempts.c.nodeid, attempts.c.id)
        )
        previous: tuple[str, bool] | None = None
        for nodeid, outcome in conn.execute(query):
            failed = outcome in FAILED_OUTCOMES
            if previous is not None and previous[0] == nodeid and previous[1] != failed:
                by_id[nodeid].flips += 1
            previous = (nodeid, failed)


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))


def _per_commit(conn: Connection, nodeids: Sequence[str], since: float | None) -> dict[str, Any]:
    """For tests with failures: (commit, attempts, failures, serial passes) ordered by recency."""
    failed = sa.case((attempts.c.outcome.in_(FAILED_OUTCOMES), 1), else_=0)
    serial_pass = sa.case(
        (attempts.c.worker.is_(None) & attempts.c.outcome.in_(("passed", "xpassed")), 1), else_=0
    )
    parallel_fail = sa.case((attempts.c.worker.is_not(None) & (failed == 1), 1), else_=0)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for chunk in _chunks(nodeids):
        query = (
            sa.select(
                attempts.c.nodeid,
                runs.c.commit,
                sa.func.count(),
                sa.func.sum(failed),
                sa.func.sum(serial_pass),
                sa.func.sum(parallel_fail),
                sa.func.max(attempts.c.started_at),
            )
            .join(runs, runs.c.run_id == attempts.c.run_id)
            .where(attempts.c.nodeid.in_(chunk), *_window(since))
            .group_by(attempts.c.nodeid, runs.c.commit)
            .order_by(sa.func.max(attempts.c.started_at).desc())
        )
        for row in conn.execute(query):
            out.setdefault(row[0], []).append(tuple(row[1:]))
    return out


def _latest_findings(conn: Connection, since: float | None) -> dict[str, Any]:
    query = sa.select(findings).order_by(findings.c.created_at)
    if since is not None:
        query = query.where(findings.c.created_at >= since)
    return {row.nodeid: row for row in conn.execute(query)}


def _judge(test: TestReport, commits: list[tuple[Any, ...]], finding: Any) -> None:
    """History verdict, overridden by a nightly finding made on the test's latest commit."""
    latest_commit, n, fails, serial_passes, parallel_fails, _ = commits[0]
    if finding is not None and finding.commit == latest_commit:
        test.classification = finding.classification
        test.culprits = json.loads(finding.culprits)
        test.evidence = finding.evidence
        return
    mixed = [c for c in commits if 0 < c[2] < c[1]]
    if fails == n:
        test.classification = "broken"
        test.evidence = f"failed all {n} attempts on commit {_short(latest_commit)}"
    elif not mixed:
        test.evidence = f"passes on commit {_short(latest_commit)}; failed only on older commits"
    elif fails == parallel_fails and serial_passes >= MIN_SERIAL_PASSES:
        test.classification = "parallel-only"
        test.evidence = (
            f"{fails} failures, all under xdist; {serial_passes} serial attempts passed "
            "(unconfirmed: run tenantfixtures nightly to name the colliding tests)"
        )
    else:
        test.classification = "flaky"
        test.evidence = f"passed and failed on commit {_short(mixed[0][0])} ({fails}/{n} failed)"


def _short(commit: str | None) -> str:
    return commit[:10] if commit else "(unknown)"


def classify(conn: Connection, since: float | None = None) -> tuple[int, list[TestReport]]:
    """Number of runs in the window and every test's figures and verdict."""
    run_query = sa.select(sa.func.count(sa.distinct(attempts.c.run_id))).where(*_window(since))
    run_count = int(conn.execute(run_query).scalar() or 0)
    tests = _aggregate(conn, since)
    suspects = [t for t in tests if t.failures]
    _count_flips(conn, suspects, since)
    commits = _per_commit(conn, [t.nodeid for t in suspects], since)
    latest = _latest_findings(conn, since)
    for test in suspects:
        _judge(test, commits[test.nodeid], latest.get(test.nodeid))
    for test in tests:
        if not test.failures:
            test.evidence = f"passed all {test.attempts} attempts"
    rank = {name: index for index, name in enumerate(CLASSES)}
    tests.sort(key=lambda t: (rank[t.classification], -t.failure_rate, t.nodeid))
    return run_count, tests


def load_histories(conn: Connection, tests: Sequence[TestReport], limit: int = 60) -> None:
    """Fill ``history`` (time, failed) of the given tests with their latest attempts, for charts."""
    for test in tests:
        query = (
            sa.select(attempts.c.started_at, attempts.c.outcome)
            .where(attempts.c.nodeid == test.nodeid, attempts.c.outcome.in_(EXECUTED))
            .order_by(attempts.c.id.desc())
            .limit(limit)
        )
        rows = conn.execute(query).all()
        test.history = [(float(t), outcome in FAILED_OUTCOMES) for t, outcome in reversed(rows)]
