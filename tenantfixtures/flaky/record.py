"""The recorder: one history row per test attempt, written from the xdist controller only.

Phase reports (setup, call, teardown) of one attempt are folded into a single row. Rows go to a
journal file at once (cheap, survives a kill) and to the store in batches (one transaction per
batch keeps the cost per attempt far below a millisecond). A worker that dies mid-test turns
that test's open attempt into one ``crashed`` row on that worker, never a phantom pass.
"""

import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tenantfixtures.factories_plugin import _BASE_SEED, SEED_PROPERTY
from tenantfixtures.flaky.meta import run_metadata
from tenantfixtures.flaky.models import Attempt, Outcome, Run
from tenantfixtures.flaky.spool import Journal
from tenantfixtures.flaky.store import Store, StoreError, label
from tenantfixtures.redact import redact

BATCH_ROWS = 500
BATCH_SECONDS = 2.0
MESSAGE_CHARS = 2000
RUN_ID_ENV = "TENANTFIXTURES_RUN_ID"
RUN_KIND_ENV = "TENANTFIXTURES_RUN_KIND"
CRASH_PHASE = "???"  # xdist's ``when`` on the report it makes for a crashed worker's test
_GROUP_SUFFIX = re.compile(r"@[^@\[\]:/]+$")


@dataclass
class _Open:
    """Phase reports of one attempt, folded as they arrive."""

    nodeid: str
    attempt: int
    worker: str | None
    position: int
    started_at: float
    stopped_at: float = 0.0
    duration: float = 0.0
    phase: str = "call"
    outcome: Outcome = Outcome.PASSED
    message: str | None = None
    seed: int | None = None  # the test's own data seed, when the factories plugin set one
    done: bool = False

    def add(self, report: pytest.TestReport) -> None:
        self.duration += report.duration
        seed = dict(report.user_properties).get(SEED_PROPERTY)
        if isinstance(seed, int):
            self.seed = seed
        self.stopped_at = max(self.stopped_at, report.stop, self.started_at)
        outcome = _outcome(report)
        if outcome is Outcome.CRASHED or (
            outcome is not Outcome.PASSED and self.outcome in (Outcome.PASSED, Outcome.XPASSED)
        ):
            self.phase, self.outcome = report.when or "call", outcome
            if report.failed or outcome in (Outcome.RERUN, Outcome.CRASHED):
                # Redact before cutting, so no secret is split past the pattern's reach.
                self.message = redact(report.longreprtext)[-MESSAGE_CHARS:]
        if report.when in ("teardown", CRASH_PHASE):
            self.done = True


def _outcome(report: pytest.TestReport) -> Outcome:
    if report.when == CRASH_PHASE:
        return Outcome.CRASHED
    if str(report.outcome) == "rerun":  # pytest-rerunfailures' own outcome
        return Outcome.RERUN
    xfail = hasattr(report, "wasxfail")
    if report.skipped:
        return Outcome.XFAILED if xfail else Outcome.SKIPPED
    if report.failed:
        return Outcome.FAILED if report.when == "call" else Outcome.ERROR
    return Outcome.XPASSED if xfail and report.when == "call" else Outcome.PASSED


def _worker(report: pytest.TestReport) -> str | None:
    """The xdist worker of a report; a crash report carries its worker as ``node`` instead."""
    worker: str | None = getattr(report, "worker_id", None)
    if worker is None and report.when == CRASH_PHASE:
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        worker = getattr(gateway, "id", None)
    return worker


def _order_seed(config: pytest.Config) -> tuple[int | None, str | None]:
    """The seed that decided the order, and whose it was (so a replay can pass it back)."""
    for name, source in (("tf_shuffle_seed", "shuffle"), ("randomly_seed", "randomly")):
        value = getattr(config.option, name, None)
        if isinstance(value, int) and (
            source != "randomly" or config.pluginmanager.has_plugin("randomly")
        ):
            return value, source
    return None, None


class Recorder:
    """pytest plugin object; registered only when ``--tf-history`` is given, never on workers."""

    def __init__(self, config: pytest.Config, target: str, spool_dir: Path) -> None:
        self.config = config
        self.target = target
        self.spool_dir = spool_dir
        self.run_id = os.environ.get(RUN_ID_ENV) or uuid.uuid4().hex
        self.seed, self.seed_source = _order_seed(config)
        self.store: Store | None = None
        self.journal: Journal | None = None
        self.error: str | None = None
        self._lock: Any = None
        self._open: dict[tuple[str | None, str], _Open] = {}
        self._last: dict[str | None, tuple[str, int]] = {}
        self._batch: list[Attempt] = []
        self._seq = 0
        self._flushed_at = time.monotonic()
        self._grouped = getattr(config.option, "dist", None) == "loadgroup"

    # -- session ----------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from filelock import FileLock

        rootdir = self.config.rootpath
        data_seed = self.config.stash.get(_BASE_SEED, None)
        run = Run(
            run_id=self.run_id,
            kind=os.environ.get(RUN_KIND_ENV, "pytest"),
            started_at=time.time(),
            seed=self.seed,
            seed_source=self.seed_source,
            data_seed=data_seed,
            rootdir=str(rootdir),
            **run_metadata(rootdir),
        )
        journal_path = self.spool_dir / f"{self.run_id}.jsonl"
        self._lock = FileLock(str(journal_path) + ".lock")
        self._lock.acquire()
        self.journal = Journal(journal_path, run)
        try:
            self.store = Store(self.target)
            self.store.import_pending(self.spool_dir)
            self.store.add_run(run)
        except StoreError as exc:
            self._fail(exc)

    def _fail(self, exc: StoreError) -> None:
        self.store = None
        assert self.journal is not None
        self.error = (
            f"{exc}; this run's records are kept in {self.journal.path} and imported next time"
        )

    def _nodeid(self, report: pytest.TestReport) -> str:
        """The test's own id: under ``--dist loadgroup`` xdist appends ``@group`` to it."""
        if self._grouped:
            return _GROUP_SUFFIX.sub("", report.nodeid)
        return report.nodeid

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        worker = _worker(report)
        attempt: int = getattr(report, "rerun", 0) or 0
        nodeid = self._nodeid(report)
        key = (worker, nodeid)
        current = self._open.get(key)
        if current is not None and current.attempt != attempt and report.when != CRASH_PHASE:
            self._close(key, current)
            current = None
        if current is None:
            last = self._last.get(worker)
            if last is not None and last[0] == nodeid and attempt > 0:  # a rerun
                position = last[1]
            else:
                position = last[1] + 1 if last is not None else 0
                self._last[worker] = (nodeid, position)
            current = _Open(nodeid, attempt, worker, position, report.start or time.time())
            self._open[key] = current
        current.add(report)
        if current.done:
            self._close(key, current)

    def _close(self, key: tuple[str | None, str], open_: _Open) -> None:
        del self._open[key]
        self._seq += 1
        row = Attempt(
            run_id=self.run_id,
            seq=self._seq,
            nodeid=redact(open_.nodeid),  # parametrize ids can carry keys
            attempt=open_.attempt,
            phase=open_.phase,
            outcome=open_.outcome,
            duration=open_.duration,
            worker=open_.worker,
            position=open_.position,
            seed=open_.seed if open_.seed is not None else self.seed,
            started_at=open_.started_at,
            stopped_at=open_.stopped_at,
            message=open_.message,
        )
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
        for key, open_ in list(self._open.items()):
            self._close(key, open_)
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
                f"tenantfixtures: {self._seq} attempts recorded in {label(self.target)} "
                f"(run {self.run_id})"
            )
