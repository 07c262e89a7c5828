"""Runs inner pytest sessions for ``nightly`` and ``replay`` and reads back what they recorded.

Probes that can share the machine run as concurrent sessions, one process each: that keeps
them apart as xdist workers would. (xdist's ``--dist loadgroup`` cannot pin them: under
pytest 9 its group suffix is lost, pytest-dev/pytest-xdist with pytest 9.2 here.)
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tenantfixtures.flaky.models import Attempt
from tenantfixtures.flaky.order import write_selection
from tenantfixtures.flaky.record import RUN_ID_ENV, RUN_KIND_ENV
from tenantfixtures.flaky.store import Store

MIN_SHARED = 0.5  # fraction of the shorter test's time two co-run tests must overlap


class RunError(Exception):
    """An inner pytest session could not run the tests (usage error, nothing collected, ...)."""


def has_xdist() -> bool:
    return importlib.util.find_spec("xdist") is not None


def serial_args() -> list[str]:
    return ["-n", "0"] if has_xdist() else []


class PytestRunner:
    """Builds and runs ``python -m pytest`` with the user's arguments plus ours (ours win)."""

    def __init__(self, pytest_args: Sequence[str], cwd: Path) -> None:
        self.pytest_args = list(pytest_args)
        self.cwd = cwd
        self.sessions = 0

    def command(self, extra: Sequence[str]) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tenantfixtures",
            *self.pytest_args,
            "-q",
            "-p",
            "no:randomly",
            *extra,
        ]

    def run(self, extra: Sequence[str], history: str, kind: str) -> str:
        """Run one session recording into ``history``; returns its run id."""
        return self.run_concurrently([extra], history, kind)[0]

    def run_concurrently(
        self, sessions: Sequence[Sequence[str]], history: str, kind: str
    ) -> list[str]:
        """Run one session per entry of ``sessions`` (extra args) at once; their run ids."""
        started = []
        for extra in sessions:
            run_id = uuid.uuid4().hex
            env = {**os.environ, RUN_ID_ENV: run_id, RUN_KIND_ENV: kind}
            # "--opt=value": pytest guesses the rootdir from bare path-like tokens.
            command = self.command([f"--tf-history={history}", *extra])
            process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            started.append((run_id, process))
        self.sessions += len(started)
        failures = []
        for _, process in started:
            output, _ = process.communicate()
            if process.returncode not in (0, 1):
                tail = "\n".join(output.strip().splitlines()[-8:])
                failures.append(f"pytest exited with code {process.returncode} ({kind}):\n{tail}")
        if failures:
            raise RunError(failures[0])
        return [run_id for run_id, _ in started]


@dataclass(frozen=True)
class Probe:
    """Tests to run in one process in this order (``parallel``: on two workers side by side).

    ``key`` names the probe's place in a confirmation, so a probe asked twice runs once."""

    tests: tuple[str, ...]
    parallel: bool = False
    key: tuple[object, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    attempts: dict[str, Attempt]
    overlapped: bool = True  # parallel probes: the two tests ran side by side long enough

    def failed(self, nodeid: str) -> bool:
        return self.attempts[nodeid].failed


def _overlapped(first: Attempt, second: Attempt) -> bool:
    shared = min(first.stopped_at, second.stopped_at) - max(first.started_at, second.started_at)
    shorter = min(first.stopped_at - first.started_at, second.stopped_at - second.started_at)
    return shared >= MIN_SHARED * shorter


class Prober:
    """Runs probes: one, or several serial ones at once in sessions of their own."""

    def __init__(self, runner: PytestRunner) -> None:
        self.runner = runner
        self._dir = tempfile.TemporaryDirectory(prefix="tf-nightly-")
        self.workdir = Path(self._dir.name)
        self.history = str(self.workdir / "probes.db")
        self.store = Store(self.history)
        self._files = 0

    def run(self, probes: Sequence[Probe]) -> list[ProbeResult]:
        sessions = []
        for probe in probes:
            self._files += 1
            path = self.workdir / f"probe-{self._files}.txt"
            write_selection(path, list(probe.tests))
            workers = ["-n", "2", "--dist", "load"] if probe.parallel else serial_args()
            sessions.append([f"--tf-select={path}", *workers])
        run_ids = self.runner.run_concurrently(sessions, self.history, "nightly:probe")
        return [
            self._result(probe, self.store.attempts_of([run_id], first_only=True))
            for probe, run_id in zip(probes, run_ids, strict=True)
        ]

    def _result(self, probe: Probe, found: list[Attempt]) -> ProbeResult:
        by_id = {a.nodeid: a for a in found}
        missing = [nodeid for nodeid in probe.tests if nodeid not in by_id]
        if missing:
            raise RunError(f"{missing[0]} did not run when selected; is the node id still valid?")
        attempts = {nodeid: by_id[nodeid] for nodeid in probe.tests}
        if probe.parallel:
            first, second = (attempts[nodeid] for nodeid in probe.tests)
            return ProbeResult(attempts, _overlapped(first, second))
        return ProbeResult(attempts)

    def close(self) -> None:
        self.store.close()
        self._dir.cleanup()


def read_attempts(store: Store, run_ids: Sequence[str]) -> list[Attempt]:
    """First attempts of the given runs that ran the test's code (no skip, no crash)."""
    return [a for a in store.attempts_of(run_ids, first_only=True) if a.outcome.executed]
