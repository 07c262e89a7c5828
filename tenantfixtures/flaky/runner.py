"""Runs inner pytest sessions for ``nightly`` and reads back what they recorded."""

import importlib.util
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tenantfixtures.flaky.record import RUN_ID_ENV, RUN_KIND_ENV
from tenantfixtures.flaky.store import FAILED_OUTCOMES, Store, attempts

MIN_SHARED = 0.5  # fraction of the shorter test's time two co-run tests must overlap


class RunError(Exception):
    """An inner pytest session could not run the tests (usage error, nothing collected, ...)."""


@dataclass(frozen=True)
class Attempt:
    """First attempt of one test in one session: what the analysis needs."""

    run_id: str
    nodeid: str
    failed: bool
    worker: str | None
    position: int
    start: float
    stop: float


def has_xdist() -> bool:
    return importlib.util.find_spec("xdist") is not None


class PytestRunner:
    """Builds and runs ``python -m pytest`` with the user's arguments plus ours (ours win)."""

    def __init__(self, pytest_args: Sequence[str], cwd: Path) -> None:
        self.pytest_args = list(pytest_args)
        self.cwd = cwd
        self.sessions = 0

    def run(self, extra: Sequence[str], history: str, kind: str) -> str:
        """Run one session recording into ``history``; returns its run id."""
        run_id = uuid.uuid4().hex
        env = {**os.environ, RUN_ID_ENV: run_id, RUN_KIND_ENV: kind}
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tenantfixtures",
            *self.pytest_args,
            "-q",
            "-p",
            "no:randomly",
            # "--opt=value": pytest guesses the rootdir from bare path-like tokens.
            f"--tf-history={history}",
            *extra,
        ]
        done = subprocess.run(command, cwd=self.cwd, env=env, capture_output=True, text=True)
        self.sessions += 1
        if done.returncode not in (0, 1):
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            raise RunError(f"pytest exited with code {done.returncode} ({kind}):\n{tail}")
        return run_id


def read_attempts(store: Store, run_ids: Sequence[str]) -> list[Attempt]:
    """First attempts (attempt 0) of the given runs; reruns are correlated, not new trials."""
    query = (
        sa.select(
            attempts.c.run_id,
            attempts.c.nodeid,
            attempts.c.outcome,
            attempts.c.worker,
            attempts.c.position,
            attempts.c.started_at,
            attempts.c.stopped_at,
        )
        .where(
            attempts.c.run_id.in_(list(run_ids)),
            attempts.c.attempt == 0,
            attempts.c.outcome.not_in(("skipped", "xfailed")),
        )
        .order_by(attempts.c.id)
    )
    with store.connect() as conn:
        return [
            Attempt(r[0], r[1], r[2] in FAILED_OUTCOMES, r[3], r[4] or 0, r[5], r[6])
            for r in conn.execute(query)
        ]


class Prober:
    """Runs exact selections of tests (serially or on two workers) and says whether one failed."""

    def __init__(self, runner: PytestRunner, workdir: Path) -> None:
        self.runner = runner
        self.workdir = workdir
        self.store = Store(str(workdir / "probes.db"))
        self._probes = 0

    def _probe(self, nodeids: Sequence[str], parallel: bool) -> dict[str, Attempt]:
        self._probes += 1
        selection = self.workdir / f"probe-{self._probes}.txt"
        selection.write_text("\n".join(nodeids) + "\n", encoding="utf-8")
        extra = [f"--tf-select={selection}"]
        extra += ["-n", "2", "--dist", "load"] if parallel else (["-n", "0"] if has_xdist() else [])
        run_id = self.runner.run(extra, str(self.workdir / "probes.db"), "nightly:probe")
        selection.unlink()
        found = {a.nodeid: a for a in read_attempts(self.store, [run_id])}
        missing = [nodeid for nodeid in nodeids if nodeid not in found]
        if missing:
            raise RunError(f"{missing[0]} did not run when selected; is the node id still valid?")
        return found

    def fails(self, nodeids: Sequence[str], target: str) -> bool:
        """Run ``nodeids`` serially in this order in one session; whether ``target`` failed."""
        return self._probe(nodeids, parallel=False)[target].failed

    def fails_beside(self, target: str, partner: str) -> tuple[bool, bool] | None:
        """Run both on two workers; whether each failed, or None if they ran side by side for
        less than half the shorter one's time (a late worker start proves nothing)."""
        found = self._probe([target, partner], parallel=True)
        mine, theirs = found[target], found[partner]
        shared = min(mine.stop, theirs.stop) - max(mine.start, theirs.start)
        shorter = min(mine.stop - mine.start, theirs.stop - theirs.start)
        return (mine.failed, theirs.failed) if shared >= MIN_SHARED * shorter else None

    def close(self) -> None:
        self.store.close()
