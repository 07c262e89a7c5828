"""``tenantfixtures nightly``: N rounds in varied order and parallelism, then confirmation.

Rounds alternate serial and parallel (one serial round in three) with a seeded shuffle each, so
both order and placement vary; every attempt lands in the history store. Parallel rounds take
turns: two workers with the tests shuffled, then four with the slow tests first, in waves of
slow tests that have not yet run side by side. Two tests collide only while both run, and a
shuffle seldom puts two slow tests (the ones with time to collide) beside each other: on the
benchmark suite, shuffled rounds left 5 of its 25 planted colliding tests (5 nights) never
failing; these rounds, none. Suspects (tests that failed at least once) are then confirmed by
:mod:`confirm` and the verdicts stored as findings. A ``max_minutes`` budget stops the rounds
(after the first) and the confirmation, keeping the best verdicts so far, marked unconfirmed.
"""

import contextlib
import enum
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import sqlalchemy as sa

from tenantfixtures.flaky.confirm import Rounds, confirm
from tenantfixtures.flaky.models import Attempt, Classification, Finding, Outcome
from tenantfixtures.flaky.order import write_selection
from tenantfixtures.flaky.runner import (
    Prober,
    PytestRunner,
    executed,
    has_xdist,
    overlapped,
    serial_args,
)
from tenantfixtures.flaky.store import Store, findings

UNHEALTHY = [c.value for c in Classification if c.unhealthy and c is not Classification.BROKEN]


SLOW = 10.0  # a test at least this many times the median duration is slow


class RoundKind(enum.Enum):
    SERIAL = "serial"
    SHUFFLED = "-n 2"
    SLOW_FIRST = "-n 4, slow tests first"

    @property
    def workers(self) -> int:
        return {RoundKind.SERIAL: 0, RoundKind.SHUFFLED: 2, RoundKind.SLOW_FIRST: 4}[self]


@dataclass(frozen=True)
class RoundPlan:
    index: int
    seed: int
    kind: RoundKind

    @property
    def parallel(self) -> bool:
        return self.kind is not RoundKind.SERIAL

    def args(self, selection: Path) -> list[str]:
        """``selection``: where a slow-first round's order is written (others shuffle)."""
        if self.kind is RoundKind.SERIAL:
            return [f"--tf-shuffle-seed={self.seed}", *serial_args()]
        workers = ["-n", str(self.kind.workers)]
        if self.kind is RoundKind.SHUFFLED:
            return [f"--tf-shuffle-seed={self.seed}", *workers]
        # xdist deals the tests one at a time as workers free up: the order is the timeline.
        return [f"--tf-select={selection}", *workers, "--maxschedchunk=1"]

    def describe(self) -> str:
        return f"{self.kind.value}, seed {self.seed}"


def plan(rounds: int, seed: int) -> list[RoundPlan]:
    """Every third round (the first included) serial, the others on xdist workers, shuffled
    and slow-first in turn (shuffled first)."""
    parallel = has_xdist()
    plans = []
    for i in range(rounds):
        if not parallel or i % 3 == 0:
            kind = RoundKind.SERIAL
        else:
            kind = RoundKind.SLOW_FIRST if (i - i // 3) % 2 == 0 else RoundKind.SHUFFLED
        plans.append(RoundPlan(i, seed + i, kind))
    return plans


@dataclass(frozen=True)
class Meetings:
    """How often two slow tests ran side by side, and which of them failed there."""

    count: int = 0
    failed: frozenset[str] = frozenset()

    @property
    def want(self) -> float:
        """How much a wave wants the pair side by side again: less each time it was, but a
        pair where one failed and the other never did counts one time less (in a race
        either may lose, and each needs a failure of its own to be confirmed)."""
        return 1 / (1 + self.count - (len(self.failed) == 1))


def slow_first(
    durations: Mapping[str, float],
    seed: int,
    workers: int,
    met: Mapping[frozenset[str], Meetings] = MappingProxyType({}),
) -> list[str]:
    """The slow tests first, in waves of ``workers`` that start together, then the others
    shuffled. Each wave is filled from the slow tests most wanted beside its members (``met``:
    the pairs seen side by side in earlier rounds; see ``Meetings.want``), ties broken by a
    seeded shuffle, so a few rounds put every two slow tests side by side, and then the pairs
    met least, again. Laid out for xdist's dealing with --maxschedchunk=1: each worker is
    first handed two consecutive tests, then one at a time as it frees up; so the first wave
    starts together, one test a worker."""
    rng = random.Random(seed)
    slow = slow_tests(durations)
    pool = [nodeid for nodeid in sorted(durations) if nodeid in slow]
    rest = [nodeid for nodeid in sorted(durations) if nodeid not in slow]
    rng.shuffle(pool)
    rng.shuffle(rest)
    done: set[frozenset[str]] = set()  # side by side in a wave of this round

    def want(pair: frozenset[str]) -> float:
        return 0.0 if pair in done else met.get(pair, Meetings()).want

    def wanted(test: str, others: Collection[str]) -> float:
        return sum(want(frozenset((test, other))) for other in others if other != test)

    partners_left = {test: wanted(test, pool) for test in pool}  # wanted partners still pooled

    def take(test: str) -> str:
        pool.remove(test)
        for other in pool:
            partners_left[other] -= want(frozenset((test, other)))
        return test

    timeline: list[str] = []
    while pool:
        wave = [take(max(pool, key=partners_left.__getitem__))]
        while pool and len(wave) < workers:
            wave.append(take(max(pool, key=lambda test: wanted(test, wave))))
        done.update(frozenset(pair) for pair in itertools.combinations(wave, 2))
        timeline += wave
    timeline += rest
    head = 2 * workers
    if len(timeline) < head:  # xdist deals so few tests round-robin, one each
        return timeline
    dealt = [timeline[slot // 2 + (slot % 2) * workers] for slot in range(head)]
    return dealt + timeline[head:]


def slow_tests(durations: Mapping[str, float]) -> set[str]:
    """Tests taking ``SLOW`` times the median duration or more."""
    threshold = SLOW * statistics.median(durations.values()) if durations else 0.0
    return {nodeid for nodeid, duration in durations.items() if duration >= threshold > 0}


def met_side_by_side(
    attempts: Sequence[Attempt], among: Collection[str]
) -> dict[frozenset[str], Meetings]:
    """Pairs of ``among`` that ran side by side (on two workers of one run; serial runs have
    no worker): in how many runs, and which of the two failed there."""
    wanted = set(among)
    by_run: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        if attempt.nodeid in wanted and attempt.worker is not None:
            by_run.setdefault(attempt.run_id, []).append(attempt)
    met: dict[frozenset[str], Meetings] = {}
    for same in by_run.values():
        in_run: dict[frozenset[str], frozenset[str]] = {}
        for a, b in itertools.combinations(same, 2):
            if a.worker != b.worker and overlapped(a, b):
                pair = frozenset((a.nodeid, b.nodeid))
                failed = frozenset(run.nodeid for run in (a, b) if run.failed)
                in_run[pair] = in_run.get(pair, frozenset()) | failed
        for pair, failed in in_run.items():
            before = met.get(pair, Meetings())
            met[pair] = Meetings(before.count + 1, before.failed | failed)
    return met


def _median_durations(attempts: Sequence[Attempt]) -> dict[str, float]:
    """Each test's median duration over the rounds so far (a skipped or crashed test too: a
    slow-first round must still run every test)."""
    seen: dict[str, list[float]] = {}
    for attempt in attempts:
        seen.setdefault(attempt.nodeid, []).append(attempt.duration)
    return {nodeid: statistics.median(durations) for nodeid, durations in seen.items()}


@dataclass
class NightlyResult:
    run_ids: list[str]
    verdicts: list[Finding]
    new_unhealthy: list[str]
    sessions: int
    rounds_seconds: float
    confirm_seconds: float
    budget_exhausted: bool


def _known_unhealthy(store: Store) -> set[str]:
    query = sa.select(findings.c.nodeid).where(findings.c.classification.in_(UNHEALTHY))
    with store.connect() as conn:
        return {row[0] for row in conn.execute(query)}


def run_nightly(
    store: Store,
    pytest_args: Sequence[str],
    rounds: int,
    seed: int | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    max_minutes: float | None = None,
) -> NightlyResult:
    """Run the rounds, confirm the suspects, store the findings; raises ``RunError``."""
    started = time.monotonic()
    deadline = started + max_minutes * 60 if max_minutes is not None else None
    with (
        contextlib.closing(PytestRunner(pytest_args, Path.cwd())) as runner,
        tempfile.TemporaryDirectory(prefix="tf-rounds-") as workdir,
    ):
        selection = Path(workdir, "order.txt")
        seed = random.randrange(1, 2**31) if seed is None else seed
        known = _known_unhealthy(store)
        run_ids: list[str] = []
        parallel_runs: set[str] = set()
        recorded: list[Attempt] = []  # the rounds' first attempts, skips and crashes included
        exhausted = False
        for round_plan in plan(rounds, seed):
            if run_ids and deadline is not None and time.monotonic() > deadline:
                log(f"--max-minutes reached after {len(run_ids)}/{rounds} rounds")
                exhausted = True
                break
            round_started = time.monotonic()
            if round_plan.kind is RoundKind.SLOW_FIRST:
                durations = _median_durations(recorded)
                met = met_side_by_side(recorded, slow_tests(durations))
                order = slow_first(durations, round_plan.seed, round_plan.kind.workers, met)
                write_selection(selection, order)
            args = round_plan.args(selection)
            run_id = runner.run(args, store.target, f"nightly:{round_plan.describe()}")
            run_ids.append(run_id)
            if round_plan.parallel:
                parallel_runs.add(run_id)
            ran = store.attempts_of([run_id], first_only=True)
            recorded += ran
            tried = executed(ran)
            took = time.monotonic() - round_started
            log(
                f"round {round_plan.index + 1}/{rounds} ({round_plan.describe()}):"
                f" {len(tried)} tests, {sum(a.failed for a in tried)} failed [{took:.1f}s]"
            )
        rounds_done = time.monotonic()
        crashed = frozenset(a.nodeid for a in recorded if a.outcome is Outcome.CRASHED)
        history = Rounds(executed(recorded), parallel_runs, crashed)
        suspects = sorted({a.nodeid for a in history.attempts if a.failed})
        log(f"confirming {len(suspects)} suspect(s)")
        prober = Prober(runner)
        try:
            verdicts = confirm(history, suspects, prober, log, deadline)
        finally:
            prober.close()
        confirm_done = time.monotonic()
    first = store.run(run_ids[0]) if run_ids else None
    commit = first.commit if first is not None else None
    verdicts = [replace(v, commit=commit, created_at=time.time()) for v in verdicts]
    store.add_findings(verdicts)
    new = [
        v.nodeid for v in verdicts if v.classification.value in UNHEALTHY and v.nodeid not in known
    ]
    return NightlyResult(
        run_ids,
        verdicts,
        new,
        runner.sessions,
        rounds_done - started,
        confirm_done - rounds_done,
        exhausted or any(not v.confirmed for v in verdicts),
    )
