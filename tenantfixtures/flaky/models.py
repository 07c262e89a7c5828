"""The flaky detector's typed records, shared by recorder, store, ingest, classifier and reports.

One definition of an attempt, a run, a finding and a report entry, so no module builds its own
dict or compares bare strings: the store maps these to rows, everything else uses the types.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """What one attempt of a test did (the phase that decided it, folded into one value)."""

    PASSED = "passed"
    FAILED = "failed"  # the call phase failed
    ERROR = "error"  # setup or teardown failed
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    RERUN = "rerun"  # a failed attempt pytest-rerunfailures ran again
    CRASHED = "crashed"  # the xdist worker running it died (kill -9, segfault, os._exit)

    @property
    def failed(self) -> bool:
        return self in FAILED_OUTCOMES

    @property
    def executed(self) -> bool:
        """Counts as a trial of the test's code: a crash says nothing about pass or fail."""
        return self in EXECUTED_OUTCOMES


FAILED_OUTCOMES = frozenset({Outcome.FAILED, Outcome.ERROR, Outcome.RERUN})
EXECUTED_OUTCOMES = frozenset({Outcome.PASSED, Outcome.XPASSED, *FAILED_OUTCOMES})
FINAL_FAILURES = frozenset({Outcome.FAILED, Outcome.ERROR})


class Classification(StrEnum):
    """A test's verdict; the declaration order is the report's order (worst first)."""

    BROKEN = "broken"
    ORDER_DEPENDENT = "order-dependent"
    PARALLEL_ONLY = "parallel-only"
    FLAKY = "flaky"
    STABLE = "stable"

    @property
    def unhealthy(self) -> bool:
        return self is not Classification.STABLE

    @property
    def rank(self) -> int:
        return list(Classification).index(self)


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of one test in one run: one history row."""

    run_id: str
    seq: int
    nodeid: str
    attempt: int
    outcome: Outcome
    started_at: float
    stopped_at: float
    phase: str = "call"
    duration: float = 0.0
    worker: str | None = None
    position: int = 0
    seed: int | None = None
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome.failed

    def row(self) -> dict[str, Any]:
        values = asdict(self)
        values["outcome"] = self.outcome.value
        return values

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Attempt:
        names = cls.__dataclass_fields__
        values = {key: row[key] for key in names if key in row}
        values["outcome"] = Outcome(row["outcome"])
        values["position"] = row.get("position") or 0
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Run:
    """One pytest session (or one ingested JUnit file) and what identifies its code and seeds."""

    run_id: str
    started_at: float
    kind: str = "pytest"
    seed: int | None = None  # the order's seed: pytest-randomly's or the nightly shuffle's
    seed_source: str | None = None  # "randomly" or "shuffle": how to replay that order
    data_seed: int | None = None  # the factories' base seed (--tf-seed)
    rootdir: str | None = None  # where the session ran: replays run there
    commit: str | None = None
    branch: str | None = None
    ci_job: str | None = None
    shard: str | None = None
    python: str | None = None
    platform: str | None = None
    finished_at: float | None = None
    exitstatus: int | None = None

    def row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Run:
        return cls(**{key: row[key] for key in cls.__dataclass_fields__ if key in row})


@dataclass(frozen=True, slots=True)
class Finding:
    """A nightly verdict on one test, made by confirmation runs on one commit."""

    nodeid: str
    classification: Classification
    evidence: str
    culprits: tuple[str, ...] = ()
    p_value: float | None = None  # of "a flake at its observed rate" given the confirmation runs
    confirmed: bool = True  # False: the --max-minutes budget ran out, best verdict so far
    commit: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class LastFailure:
    """The latest failing attempt of a test: what the reader needs to act on it."""

    message: str
    commit: str | None
    run_id: str
    at: float
    replay: str


@dataclass(frozen=True, slots=True)
class QuarantineInfo:
    owner: str
    reason: str
    expires: str


@dataclass
class TestSummary:
    """One test's figures and verdict over the report's window."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    attempts: int
    failures: int
    first_attempts: int
    first_failures: int
    final_failures: int
    crashes: int
    last_seen: float
    flips: int = 0
    classification: Classification = Classification.STABLE
    culprits: tuple[str, ...] = ()
    evidence: str = ""
    p_value: float | None = None
    confirmed: bool = True
    history: list[tuple[float, bool]] = field(default_factory=list)
    last_failure: LastFailure | None = None
    quarantine: QuarantineInfo | None = None

    @property
    def failure_rate(self) -> float:
        return self.failures / self.attempts if self.attempts else 0.0

    @property
    def needs_attention(self) -> bool:
        """Unhealthy, or it crashed its worker: both belong above the stable tests."""
        return self.classification.unhealthy or self.crashes > 0


@dataclass(frozen=True, slots=True)
class RunColumn:
    """One recorded run: a column of the report's heatmap."""

    run_id: str
    started_at: float
    kind: str
    commit: str | None


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One day (UTC) of recorded runs: the trend over the nights."""

    day: str
    runs: int
    attempts: int
    failures: int
    failing_tests: int


@dataclass
class Report:
    """Everything every renderer shows; built once by :func:`report.build_report`."""

    runs: int
    tests: list[TestSummary]
    generated_at: float
    release_candidates: list[str] = field(default_factory=list)
    trend: list[TrendPoint] = field(default_factory=list)
    columns: list[RunColumn] = field(default_factory=list)
    # nodeid -> run_id -> that run's final outcome of the test, for the heatmap
    cells: dict[str, dict[str, Outcome]] = field(default_factory=dict)

    def attention(self) -> list[TestSummary]:
        return [test for test in self.tests if test.needs_attention]

    def stable(self) -> list[TestSummary]:
        return [test for test in self.tests if not test.needs_attention]

    def counts(self) -> dict[Classification, int]:
        counts = dict.fromkeys(Classification, 0)
        for test in self.tests:
            counts[test.classification] += 1
        return counts
