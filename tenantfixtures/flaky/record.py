"""The recorder: one history row per test attempt, written from the xdist controller only.

Phase reports (setup, call, teardown) of one attempt are folded into a single row. Rows go to a
journal file at once (cheap, survives a kill) and to the store in batches (one transaction per
batch keeps the cost per attempt far below a millisecond).
"""

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tenantfixtures.factories_plugin import SEED_PROPERTY
from tenantfixtures.flaky.meta import run_metadata
from tenantfixtures.flaky.spool import Journal
from tenantfixtures.flaky.store import Store, StoreError, spool_dir_for
from tenantfixtures.redact import redact

BATCH_ROWS = 500
BATCH_SECONDS = 2.0
MESSAGE_CHARS = 2000
RUN_ID_ENV = "TENANTFIXTURES_RUN_ID"
RUN_KIND_ENV = "TENANTFIXTURES_RUN_KIND"


@dataclass
class _Attempt:
    """Phase reports of one attempt, folded as they arrive."""

    nodeid: str
    attempt: int
    worker: str | None
    position: int
    started_at: float
    stopped_at: float = 0.0
    duration: float = 0.0
    phase: str = "call"
    outcome: str = "passed"
    message: str | None = None
    seed: int | None = None  # the test's own data seed, when the factories plugin set one
    done: bool = False

    def add(self, report: pytest.TestReport) -> None:
        self.duration += report.duration
        seed = dict(report.user_properties).get(SEED_PROPERTY)
        if isinstance(seed, int):
            self.seed = seed
        self.stopped_at = max(self.stopped_at, report.stop)
        outcome = _outcome(report)
        if outcome != "passed" and self.outcome in ("passed", "xpassed"):
            self.phase, self.outcome = report.when, outcome
            if report.failed or outcome == "rerun":
                # Redact before cutting, so no secret is split past the pattern's reach.
                self.message = redact(report.longreprtext)[-MESSAGE_CHARS:]
        if report.when == "teardown":
            self.done = True


def _outcome(report: pytest.TestReport) -> str:
    if str(report.outcome) == "rerun":  # pytest-rerunfailures' own outcome
        return "rerun"
    xfail = hasattr(report, "wasxfail")
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "xpassed" if xfail and report.when == "call" else "passed"


def _seed(config: pytest.Config) -> int | None:
    for name in ("tf_shuffle_seed", "randomly_seed"):
        value = getattr(config.option, name, None)
        if isinstance(value, int):
            return value
    return None


class Recorder:
    """pytest plugin object; registered only when ``--tf-history`` is given, never on workers."""

    def __init__(self, config: pytest.Config, target: str) -> None:
        self.config = config
        self.target = target
        self.run_id = os.environ.get(RUN_ID_ENV) or uuid.uuid4().hex
        self.seed = _seed(config)
        self.store: Store | None = None
        self.journal: Journal | None = None
        self.error: str | None = None
        self._lock: Any = None
        self._open: dict[tuple[str | None, str], _Attempt] = {}
        self._last: dict[str | None, tuple[str, int]] = {}
        self._batch: list[dict[str, Any]] = []
        self._seq = 0
        self._flushed_at = time.monotonic()

    # -- session ----------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from filelock import FileLock

        rootdir = self.config.rootpath
        run = {
            "run_id": self.run_id,
            "kind": os.environ.get(RUN_KIND_ENV, "pytest"),
            "started_at": time.time(),
            "seed": self.seed,
            **run_metadata(rootdir),
        }
        spool_dir = spool_dir_for(self.target, rootdir)
        journal_path = spool_dir / f"{self.run_id}.jsonl"
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(journal_path) + ".lock")
        self._lock.acquire()
        self.journal = Journal(journal_path, run)
        try:
            self.store = Store(self.target)
            self.store.import_pending(spool_dir)
            self.store.add_run(run)
        except StoreError as exc:
            self._fail(exc)

    def _fail(self, exc: StoreError) -> None:
        self.store = None
        assert self.journal is not None
        self.error = (
            f"{exc}; this run's records are kept in {self.journal.path} and imported next time"
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        worker: str | None = getattr(report, "worker_id", None)
        attempt: int = getattr(report, "rerun", 0) or 0
        key = (worker, report.nodeid)
        current = self._open.get(key)
        if current is not None and current.attempt != attempt:
            self._close(key, current)
            current = None
        if current is None:
            last = self._last.get(worker)
            if last is not None and last[0] == report.nodeid:
                position = last[1]
            else:
                position = last[1] + 1 if last is not None else 0
                self._last[worker] = (report.nodeid, position)
            current = _Attempt(report.nodeid, attempt, worker, position, report.start)
            self._open[key] = current
        current.add(report)
        if current.done:
            self._close(key, current)

    def _close(self, key: tuple[str | None, str], attempt: _Attempt) -> None:
        del self._open[key]
        self._seq += 1
        row = {
            "run_id": self.run_id,
            "seq": self._seq,
            "nodeid": attempt.nodeid,
            "attempt": attempt.attempt,
            "phase": attempt.phase,
            "outcome": attempt.outcome,
            "duration": attempt.duration,
            "worker": attempt.worker,
            "position": attempt.position,
            "seed": attempt.seed if attempt.seed is not None else self.seed,
            "started_at": attempt.started_at,
            "stopped_at": attempt.stopped_at,
            "message": attempt.message,
        }
        assert self.journal is not None
        self.journal.append(row)
        self._batch.append(row)
        if len(self._batch) >= BATCH_ROWS or time.monotonic() - self._flushed_at > BATCH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        self._flushed_at = time.monotonic()
        batch, self._batch = self._batch, []
        if self.store is not None:
            try:
                self.store.add_attempts(batch)
            except StoreError as exc:
                self._fail(exc)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for key, attempt in list(self._open.items()):
            self._close(key, attempt)
        self._flush()
        finished_at = time.time()
        assert self.journal is not None
        self.journal.finish({"finished_at": finished_at, "exitstatus": int(exitstatus)})
        if self.store is not None:
            try:
                self.store.finish_run(self.run_id, finished_at, int(exitstatus))
            except StoreError as exc:
                self._fail(exc)
        self.journal.close(delete=self.store is not None)
        self._lock.release()
        Path(self._lock.lock_file).unlink(missing_ok=True)
        if self.store is not None:
            self.store.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.error:
            terminalreporter.write_sep("=", "tenantfixtures flaky history", red=True)
            terminalreporter.write_line(f"ERROR: {self.error}", red=True)
        else:
            terminalreporter.write_line(
                f"tenantfixtures: {self._seq} attempts recorded in {self.target} "
                f"(run {self.run_id})"
            )
