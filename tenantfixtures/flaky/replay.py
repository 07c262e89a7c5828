"""``tenantfixtures replay``: rerun a recorded failing attempt as it ran, from the history.

The same tests before it in the same process, in the same order; under xdist the same split
(each recorded worker's tests, up to the failure, in a process of its own, all starting their
tests together); the same data seed (``--tf-seed``) and pytest-randomly seed.
"""

import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tenantfixtures.flaky.models import Attempt, Run
from tenantfixtures.flaky.order import START_TOGETHER_ENV, write_selection
from tenantfixtures.flaky.runner import serial_args
from tenantfixtures.flaky.store import Store

SERIAL = "serial"


class ReplayError(Exception):
    """Nothing to replay: the message says what the history holds instead."""


@dataclass(frozen=True)
class ReplayPlan:
    failing: Attempt
    run: Run
    processes: dict[str, list[str]]  # worker (or "serial") -> node ids in their order

    @property
    def target_process(self) -> str:
        return self.failing.worker or SERIAL

    def command(self, nodeids: list[str], selection_file: Path) -> list[str]:
        files = sorted({nodeid.split("::")[0] for nodeid in nodeids})
        seeds: list[str] = []
        if self.run.data_seed is not None:
            seeds.append(f"--tf-seed={self.run.data_seed}")
        if self.run.seed_source == "randomly" and self.run.seed is not None:
            seeds += ["-p", "randomly", f"--randomly-seed={self.run.seed}"]
            seeds.append("--randomly-dont-reorganize")
        else:
            seeds += ["-p", "no:randomly"]
        return [
            sys.executable, "-m", "pytest", "-p", "tenantfixtures", *files,
            f"--tf-select={selection_file}", *serial_args(), *seeds,
        ]  # fmt: skip

    def cwd(self) -> Path:
        root = Path(self.run.rootdir) if self.run.rootdir else None
        return root if root is not None and root.is_dir() else Path.cwd()


def plan_replay(store: Store, nodeid: str, run_id: str | None = None) -> ReplayPlan:
    failing = store.last_failure(nodeid, run_id)
    if failing is None:
        where = f" in run {run_id}" if run_id else ""
        raise ReplayError(f"no failing attempt of {nodeid}{where} in {store.label}")
    run = store.run(failing.run_id)
    if run is None:
        raise ReplayError(f"run {failing.run_id} of that failure is not in {store.label}")
    same_run = store.attempts_of([failing.run_id], first_only=True)
    processes: dict[str, list[str]] = {}
    for worker in sorted({a.worker or SERIAL for a in same_run}):
        mine = sorted((a for a in same_run if (a.worker or SERIAL) == worker), key=_position)
        if worker == (failing.worker or SERIAL):
            kept = [a.nodeid for a in mine if a.position <= failing.position and a.nodeid != nodeid]
            processes[worker] = [*kept, nodeid]
        else:  # what that worker ran before the failure ended
            kept = [a.nodeid for a in mine if a.started_at < failing.stopped_at]
            if kept:
                processes[worker] = kept
    return ReplayPlan(failing, run, processes)


def _position(attempt: Attempt) -> int:
    return attempt.position


def replay(store: Store, nodeid: str, run_id: str | None, *, dry_run: bool) -> int:
    """Print the plan and the pytest commands, run them unless ``dry_run``; the exit code of
    the process that runs ``nodeid``."""
    plan = plan_replay(store, nodeid, run_id)
    where = f"worker {plan.failing.worker}" if plan.failing.worker else "a serial session"
    print(
        f"replaying {nodeid}: failed ({plan.failing.outcome.value}) in run {plan.run.run_id} on "
        f"{where}, commit {plan.run.commit or 'unknown'}, after "
        f"{len(plan.processes[plan.target_process]) - 1} other test(s) in its process, "
        f"{len(plan.processes)} process(es) at once",
        file=sys.stderr,
    )
    if dry_run:
        for worker, nodeids in plan.processes.items():
            sys.stdout.write(f"# {worker}\n" + "\n".join(nodeids) + "\n")
        return 0
    with tempfile.TemporaryDirectory(prefix="tf-replay-") as tmp:
        gate = Path(tmp, "start")
        gate.mkdir()
        env = {**os.environ, START_TOGETHER_ENV: f"{gate}:{len(plan.processes)}"}
        started: dict[str, subprocess.Popen[bytes]] = {}
        for worker, nodeids in plan.processes.items():
            selection = Path(tmp) / f"{worker}.txt"
            write_selection(selection, nodeids)
            command = plan.command(nodeids, selection)
            print(f"({worker}) cd {shlex.quote(str(plan.cwd()))} && {shlex.join(command)}",
                  file=sys.stderr)  # fmt: skip
            quiet = worker != plan.target_process
            output = subprocess.DEVNULL if quiet else None
            started[worker] = subprocess.Popen(
                command, cwd=plan.cwd(), env=env, stdout=output, stderr=output
            )
        codes = {worker: process.wait() for worker, process in started.items()}
    return codes[plan.target_process]
