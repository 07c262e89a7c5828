"""``tenantfixtures nightly``: N rounds in varied order and parallelism, then confirmation.

Rounds alternate serial and ``-n 2`` (one serial round in three) with a seeded shuffle each, so
both order and placement vary; every attempt lands in the history store. Suspects (tests that
failed at least once) are then confirmed by :mod:`confirm` and the verdicts stored as findings.
"""

import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tenantfixtures.flaky.confirm import Confirmer, Rounds, Verdict
from tenantfixtures.flaky.runner import Prober, PytestRunner, has_xdist, read_attempts
from tenantfixtures.flaky.store import Store, findings, runs

UNHEALTHY = ("flaky", "order-dependent", "parallel-only")


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
    verdicts: list[Verdict]
    new_unhealthy: list[str]
    sessions: int


def _commit(store: Store, run_id: str) -> str | None:
    with store.connect() as conn:
        value = conn.execute(sa.select(runs.c.commit).where(runs.c.run_id == run_id)).scalar()
    return str(value) if value is not None else None


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
) -> NightlyResult:
    """Run the rounds, confirm the suspects, store the findings; raises ``RunError``."""
    runner = PytestRunner(pytest_args, Path.cwd())
    seed = random.randrange(1, 2**31) if seed is None else seed
    known = _known_unhealthy(store)
    run_ids: list[str] = []
    parallel_runs: set[str] = set()
    for round_plan in plan(rounds, seed):
        started = time.monotonic()
        run_id = runner.run(round_plan.args(), store.target, f"nightly:{round_plan.describe()}")
        run_ids.append(run_id)
        if round_plan.parallel:
            parallel_runs.add(run_id)
        tried = read_attempts(store, [run_id])
        log(
            f"round {round_plan.index + 1}/{rounds} ({round_plan.describe()}): {len(tried)} tests, "
            f"{sum(a.failed for a in tried)} failed [{time.monotonic() - started:.1f}s]"
        )
    history = Rounds(read_attempts(store, run_ids), parallel_runs)
    suspects = sorted({a.nodeid for a in history.attempts if a.failed})
    log(f"confirming {len(suspects)} suspect(s)")
    with tempfile.TemporaryDirectory(prefix="tf-nightly-") as workdir:
        prober = Prober(runner, Path(workdir))
        try:
            verdicts = [Confirmer(history, prober, log).judge(nodeid) for nodeid in suspects]
        finally:
            prober.close()
    commit = _commit(store, run_ids[0]) if run_ids else None
    store.add_findings(
        {
            "nodeid": v.nodeid,
            "commit": commit,
            "classification": v.classification,
            "culprits": v.culprits,
            "evidence": v.evidence,
            "created_at": time.time(),
        }
        for v in verdicts
    )
    new = [v.nodeid for v in verdicts if v.classification in UNHEALTHY and v.nodeid not in known]
    return NightlyResult(run_ids, verdicts, new, runner.sessions)
