"""Per-test statistics and classification over the stored history.

Aggregates run in SQL, so a report over a million attempts stays within seconds; only tests
that failed (or crashed their worker) at least once get a closer look. A crashed worker is no
verdict on the test's code: crashes are counted apart, never as failures or flips.
"""

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tenantfixtures.flaky.models import Classification, Finding, Outcome, TestSummary
from tenantfixtures.flaky.store import EXECUTED, FAILED, attempts, findings, runs

MIN_SERIAL_PASSES = 2
FINAL = [Outcome.FAILED.value, Outcome.ERROR.value]


def wilson(failures: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval: sane at 0 and n failures, unlike the normal approximation."""
    if n == 0:
        return 0.0, 1.0
    p = failures / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _window(
    since: float | None, outcomes: Sequence[str] = EXECUTED
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [attempts.c.outcome.in_(list(outcomes))]
    if since is not None:
        where.append(attempts.c.started_at >= since)
    return where


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _aggregate(conn: Connection, since: float | None) -> list[TestSummary]:
    executed = attempts.c.outcome.in_(EXECUTED)
    failed = attempts.c.outcome.in_(FAILED)
    first = attempts.c.attempt == 0
    query = (
        sa.select(
            attempts.c.nodeid,
            _count(executed),
            _count(failed),
            _count(first & executed),
            _count(first & failed),
            _count(attempts.c.outcome.in_(FINAL)),
            _count(attempts.c.outcome == Outcome.CRASHED.value),
            sa.func.max(attempts.c.started_at),
        )
        .where(*_window(since, [*EXECUTED, Outcome.CRASHED.value]))
        .group_by(attempts.c.nodeid)
    )
    return [
        TestSummary(
            nodeid=row[0],
            attempts=int(row[1] or 0),
            failures=int(row[2] or 0),
            first_attempts=int(row[3] or 0),
            first_failures=int(row[4] or 0),
            final_failures=int(row[5] or 0),
            crashes=int(row[6] or 0),
            last_seen=float(row[7]),
        )
        for row in conn.execute(query)
    ]


def _count_flips(conn: Connection, tests: Sequence[TestSummary], since: float | None) -> None:
    """Outcome changes between consecutive attempts; only tests that failed can flip."""
    by_id = {test.nodeid: test for test in tests}
    for chunk in chunks(list(by_id)):
        query = (
            sa.select(attempts.c.nodeid, attempts.c.outcome)
            .where(attempts.c.nodeid.in_(chunk), *_window(since))
            .order_by(attempts.c.nodeid, attempts.c.id)
        )
        previous: tuple[str, bool] | None = None
        for nodeid, outcome in conn.execute(query):
            failed = Outcome(outcome).failed
            if previous is not None and previous[0] == nodeid and previous[1] != failed:
                by_id[nodeid].flips += 1
            previous = (nodeid, failed)


def chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))


@dataclass(frozen=True)
class _CommitFigures:
    commit: str | None
    attempts: int
    failures: int
    serial_passes: int
    parallel_failures: int


def _per_commit(
    conn: Connection, nodeids: Sequence[str], since: float | None
) -> dict[str, list[_CommitFigures]]:
    """For tests with failures: figures per commit, the most recent commit first."""
    failed = attempts.c.outcome.in_(FAILED)
    passed = attempts.c.outcome.in_([Outcome.PASSED.value, Outcome.XPASSED.value])
    out: dict[str, list[_CommitFigures]] = {}
    for chunk in chunks(nodeids):
        query = (
            sa.select(
                attempts.c.nodeid,
                runs.c.commit,
                sa.func.count(),
                _count(failed),
                _count(attempts.c.worker.is_(None) & passed),
                _count(attempts.c.worker.is_not(None) & failed),
            )
            .join(runs, runs.c.run_id == attempts.c.run_id)
            .where(attempts.c.nodeid.in_(chunk), *_window(since))
            .group_by(attempts.c.nodeid, runs.c.commit)
            .order_by(sa.func.max(attempts.c.started_at).desc())
        )
        for row in conn.execute(query):
            figures = _CommitFigures(row[1], int(row[2]), int(row[3]), int(row[4]), int(row[5]))
            out.setdefault(row[0], []).append(figures)
    return out


def _latest_findings(conn: Connection, since: float | None) -> dict[str, Finding]:
    query = sa.select(findings).order_by(findings.c.created_at, findings.c.id)
    if since is not None:
        query = query.where(findings.c.created_at >= since)
    return {
        row.nodeid: Finding(
            nodeid=row.nodeid,
            classification=Classification(row.classification),
            evidence=row.evidence,
            culprits=tuple(json.loads(row.culprits)),
            p_value=row.p_value,
            confirmed=row.confirmed is not False,
            commit=row.commit,
            created_at=row.created_at,
        )
        for row in conn.execute(query)
    }


def _judge(test: TestSummary, commits: list[_CommitFigures], finding: Finding | None) -> None:
    """History verdict, overridden by a nightly finding made on the test's latest commit."""
    latest = commits[0]
    if finding is not None and finding.commit == latest.commit:
        test.classification = finding.classification
        test.culprits = finding.culprits
        test.evidence = finding.evidence
        test.p_value = finding.p_value
        test.confirmed = finding.confirmed
        return
    mixed = [c for c in commits if 0 < c.failures < c.attempts]
    if latest.failures == latest.attempts:
        test.classification = Classification.BROKEN
        test.evidence = f"failed all {latest.attempts} attempts on commit {short(latest.commit)}"
    elif not mixed:
        test.evidence = f"passes on commit {short(latest.commit)}; failed only on older commits"
    elif latest.failures == latest.parallel_failures and latest.serial_passes >= MIN_SERIAL_PASSES:
        test.classification = Classification.PARALLEL_ONLY
        test.evidence = (
            f"{latest.failures} failures, all under xdist; {latest.serial_passes} serial attempts"
            " passed (unconfirmed: run tenantfixtures nightly to name the colliding tests)"
        )
    else:
        test.classification = Classification.FLAKY
        test.evidence = (
            f"passed and failed on commit {short(mixed[0].commit)}"
            f" ({latest.failures}/{latest.attempts} failed)"
        )


def short(commit: str | None) -> str:
    return commit[:10] if commit else "(unknown)"


def classify(conn: Connection, since: float | None = None) -> tuple[int, list[TestSummary]]:
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
        if test.crashes:
            test.evidence += (
                f"; its xdist worker crashed {test.crashes}x while running it (kill -9, segfault"
                " or os._exit: not counted as a failure)"
            )
    tests.sort(key=lambda t: (t.classification.rank, -t.failure_rate, t.nodeid))
    return run_count, tests


def load_histories(conn: Connection, tests: Sequence[TestSummary], limit: int = 60) -> None:
    """Fill ``history`` (time, failed) of the given tests with their latest attempts, for charts."""
    for test in tests:
        query = (
            sa.select(attempts.c.started_at, attempts.c.outcome)
            .where(attempts.c.nodeid == test.nodeid, attempts.c.outcome.in_(EXECUTED))
            .order_by(attempts.c.id.desc())
            .limit(limit)
        )
        rows = conn.execute(query).all()
        test.history = [(float(t), Outcome(outcome).failed) for t, outcome in reversed(rows)]
