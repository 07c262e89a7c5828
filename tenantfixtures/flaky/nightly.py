"""``tenantfixtures nightly``: N rounds in varied order and parallelism, then confirmation.

Rounds alternate serial and ``-n 2`` (one serial round in three) with a seeded shuffle each, so
both order and placement vary; every attempt lands in the history store. Suspects (tests that
failed at least once) are then confirmed by :mod:`confirm` and the verdicts stored as findings.
A ``max_minutes`` budget stops the rounds (after the first) and the confirmation, keeping the
best verdicts so far, marked unconfirmed.
"""

import contextlib
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa

from tenantfixtures.flaky.confirm import Rounds, confirm
from tenantfixtures.flaky.models import Classification, Finding
from tenantfixtures.flaky.runner import Prober, PytestRunner, has_xdist, read_attempts
from tenantfixtures.flaky.store import Store, findings

UNHEALTHY = [c.value for c in Classification if c.unhealthy and c is not Classification.BROKEN]


@dataclass(frozen=True)
class RoundPlan:
    index: int
    seed: int
    parallel: bool

    def args(self) -> list[str]:
        workers = ["-n", "2"] if self.parallel else (["-n", "0"] if has_xdist() else [])
        return [f"--tf-shuffle-seed={self.seed}", *workers]

    def describe(self) -> str:
        return f"{'-n 2' if self.parallel else 'serial'}, seed {self.seed}"


def plan(rounds: int, seed: int) -> list[RoundPlan]:
    """Every third round (the first included) serial, the others on two xdist workers."""
    parallel = has_xdist()
    return [RoundPlan(i, seed + i, parallel and i % 3 != 0) for i in range(rounds)]


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
    with contextlib.closing(PytestRunner(pytest_args, Path.cwd())) as runner:
        seed = random.randrange(1, 2**31) if seed is None else seed
        known = _known_unhealthy(store)
        run_ids: list[str] = []
        parallel_runs: set[str] = set()
        exhausted = False
        for round_plan in plan(rounds, seed):
            if run_ids and deadline is not None and time.monotonic() > deadline:
                log(f"--max-minutes reached after {len(run_ids)}/{rounds} rounds")
                exhausted = True
                break
            round_started = time.monotonic()
            run_id = runner.run(round_plan.args(), store.target, f"nightly:{round_plan.describe()}")
            run_ids.append(run_id)
            if round_plan.parallel:
                parallel_runs.add(run_id)
            tried = read_attempts(store, [run_id])
            took = time.monotonic() - round_started
            log(
                f"round {round_plan.index + 1}/{rounds} ({round_plan.describe()}):"
                f" {len(tried)} tests, {sum(a.failed for a in tried)} failed [{took:.1f}s]"
            )
        rounds_done = time.monotonic()
        history = Rounds(read_attempts(store, run_ids), parallel_runs)
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
