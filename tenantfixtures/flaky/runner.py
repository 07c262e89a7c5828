"""Runs inner pytest sessions for ``nightly`` and ``replay`` and reads back what they recorded.

A probe is one process running its tests in order, a test possibly many times (each run is a
fresh draw for the statistics, for the price of one session start). A co-run is two such
processes started together, as two xdist workers would run them side by side; replay runs a
recorded worker split the same way. (xdist's ``--dist loadgroup`` cannot pin tests to workers:
under pytest 9 its group suffix is lost, pytest-dev/pytest-xdist with pytest 9.2 here.)
"""

import bisect
import importlib.util
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tenantfixtures.flaky.models import Attempt
from tenantfixtures.flaky.order import START_TOGETHER_ENV, write_selection
from tenantfixtures.flaky.record import RUN_ID_ENV, RUN_KIND_ENV
from tenantfixtures.flaky.store import Store

MIN_SHARED = 0.5  # fraction of the shorter test's time two co-run tests must overlap


class RunError(Exception):
    """An inner pytest session could not run the tests (usage error, nothing collected, ...)."""


def has_xdist() -> bool:
    return importlib.util.find_spec("xdist") is not None


def serial_args() -> list[str]:
    return ["-n", "0"] if has_xdist() else []


@dataclass(frozen=True)
class Session:
    """One inner pytest session: our extra arguments, its kind (recorded with its run) and the
    environment it adds."""

    extra: tuple[str, ...]
    kind: str
    env: Mapping[str, str] = field(default_factory=dict)


class PytestRunner:
    """Builds and runs ``python -m pytest`` with the user's arguments plus ours (ours win).

    Where PYTHONDONTWRITEBYTECODE is set (as in many CI images), each session would compile
    again every module pytest rewrites (test modules, conftests, each plugin's distribution),
    most of a session's start-up. The sessions share a private bytecode cache instead
    (PYTHONPYCACHEPREFIX, removed by ``close``): nothing is written into the project."""

    def __init__(self, pytest_args: Sequence[str], cwd: Path) -> None:
        self.pytest_args = list(pytest_args)
        self.cwd = cwd
        self.sessions = 0
        self.env = dict(os.environ)
        self._bytecode: tempfile.TemporaryDirectory[str] | None = None
        if self.env.pop("PYTHONDONTWRITEBYTECODE", ""):
            self._bytecode = tempfile.TemporaryDirectory(prefix="tf-bytecode-")
            self.env["PYTHONPYCACHEPREFIX"] = self._bytecode.name

    def close(self) -> None:
        if self._bytecode is not None:
            self._bytecode.cleanup()

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
        return self.run_concurrently([Session(tuple(extra), kind)], history)[0]

    def run_concurrently(self, sessions: Sequence[Session], history: str) -> list[str]:
        """Start every session at once and wait for all; their run ids, in order."""
        started = []
        for session in sessions:
            run_id = uuid.uuid4().hex
            env = {**self.env, **session.env, RUN_ID_ENV: run_id, RUN_KIND_ENV: session.kind}
            # "--opt=value": pytest guesses the rootdir from bare path-like tokens.
            command = self.command([f"--tf-history={history}", *session.extra])
            process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            started.append((run_id, session.kind, process))
        self.sessions += len(started)
        failures = []
        for _, kind, process in started:
            output, _ = process.communicate()
            if process.returncode not in (0, 1):
                tail = "\n".join(output.strip().splitlines()[-8:])
                failures.append(f"pytest exited with code {process.returncode} ({kind}):\n{tail}")
        if failures:
            raise RunError(failures[0])
        return [run_id for run_id, _, _ in started]


@dataclass(frozen=True)
class Probe:
    """Tests to run in one process in this order, repeats included; ``beside``: tests run at
    the same time in a second process (a co-run); ``phases``: where each phase of a co-run
    after the first begins, in ``tests`` and in ``beside`` (both processes start it together).

    ``key`` names the probe's place in a confirmation, so a probe asked twice runs once."""

    tests: tuple[str, ...]
    beside: tuple[str, ...] = ()
    key: tuple[object, ...] = ()
    phases: tuple[tuple[int, int], ...] = ()

    @property
    def parallel(self) -> bool:
        return bool(self.beside)


@dataclass(frozen=True)
class ProbeResult:
    """The attempts of a probe's process (and of the process beside it), in running order."""

    runs: tuple[Attempt, ...]
    beside: tuple[Attempt, ...] = ()

    def flipped(self) -> "ProbeResult":
        """The same co-run seen from the process beside."""
        return ProbeResult(self.beside, self.runs)

    def failures(self, nodeid: str) -> list[bool]:
        """Failed? for each run of ``nodeid`` that ran its code, in order: a skip is no trial,
        neither a pass nor a failure."""
        return [a.failed for a in executed(self.runs) if a.nodeid == nodeid]

    def side_by_side(self, nodeid: str, other: str) -> list[bool]:
        """Failed? for each run of ``nodeid`` that overlapped a run of ``other`` beside it and
        no run of another test (a run across two of them could be either one's doing).

        The process beside runs one test at a time, so the runs sharing time with a run are
        one slice of its runs, found by bisection: a co-run counts up to thousands of runs on
        each side."""
        starts = [b.started_at for b in self.beside]
        stops = [b.stopped_at for b in self.beside]
        failed = []
        for a in self.runs:
            if a.nodeid != nodeid:
                continue
            during = self.beside[
                bisect.bisect_right(stops, a.started_at) : bisect.bisect_left(starts, a.stopped_at)
            ]
            if (
                a.outcome.executed
                and any(overlapped(a, b) for b in during if b.nodeid == other)
                and all(b.nodeid == other for b in during)
            ):
                failed.append(a.failed)
        return failed


def _shared(first: Attempt, second: Attempt) -> float:
    return min(first.stopped_at, second.stopped_at) - max(first.started_at, second.started_at)


def overlapped(first: Attempt, second: Attempt) -> bool:
    """Ran side by side for at least ``MIN_SHARED`` of the shorter one's time."""
    shared = _shared(first, second)
    shorter = min(first.stopped_at - first.started_at, second.stopped_at - second.started_at)
    return shared > 0 and shared >= MIN_SHARED * shorter


class Prober:
    """Runs probes at once, one session each (a co-run: two sessions that start together)."""

    def __init__(self, runner: PytestRunner) -> None:
        self.runner = runner
        self._dir = tempfile.TemporaryDirectory(prefix="tf-nightly-")
        self.workdir = Path(self._dir.name)
        self.history = str(self.workdir / "probes.db")
        self.store = Store(self.history)
        self._files = 0

    def _session(
        self, tests: Sequence[str], kind: str, phases: Sequence[int] = (), gate: str = ""
    ) -> Session:
        self._files += 1
        path = self.workdir / f"probe-{self._files}.txt"
        write_selection(path, list(tests), phases)
        env = {START_TOGETHER_ENV: f"{gate}:2"} if gate else {}
        return Session((f"--tf-select={path}", *serial_args()), kind, env)

    def run(self, probes: Sequence[Probe]) -> list[ProbeResult]:
        """Every probe at once: a serial probe's session, a co-run's two (gated together)."""
        sessions: list[Session] = []
        for probe in probes:
            if probe.parallel:
                gate = tempfile.mkdtemp(prefix="start-", dir=self.workdir)
                starts = ([mine for mine, _ in probe.phases], [other for _, other in probe.phases])
                sessions.append(self._session(probe.tests, "nightly:co-run", starts[0], gate))
                sessions.append(self._session(probe.beside, "nightly:co-run", starts[1], gate))
            else:
                sessions.append(self._session(probe.tests, "nightly:probe"))
        run_ids = iter(self.runner.run_concurrently(sessions, self.history))
        results = []
        for probe in probes:
            runs = self._attempts(probe.tests, next(run_ids))
            beside = self._attempts(probe.beside, next(run_ids)) if probe.parallel else ()
            results.append(ProbeResult(runs, beside))
        return results

    def _attempts(self, tests: Sequence[str], run_id: str) -> tuple[Attempt, ...]:
        found = self.store.attempts_of([run_id], first_only=True)
        for nodeid in dict.fromkeys(tests):
            if sum(a.nodeid == nodeid for a in found) != tests.count(nodeid):
                raise RunError(f"{nodeid} did not run when selected; is the node id still valid?")
        return tuple(sorted(found, key=lambda a: a.position))

    def close(self) -> None:
        self.store.close()
        self._dir.cleanup()


def executed(attempts: Iterable[Attempt]) -> list[Attempt]:
    """The attempts that ran the test's code (no skip, no crash)."""
    return [a for a in attempts if a.outcome.executed]
