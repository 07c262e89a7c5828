"""Test order control used by ``nightly`` and ``replay``: seeded shuffles, exact selections in
which a test may come back (confirmation reruns a test in one process instead of paying a
session per run), and a common start for sessions meant to run side by side, at their first
test and at each phase of a co-run (so every phase starts aligned, however long the tests of
the one before took).

All of it runs identically on every xdist worker, so all workers still collect the same list.
"""

import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tenantfixtures.redact import redact

START_TOGETHER_ENV = "TENANTFIXTURES_START_TOGETHER"  # "<directory>:<number of sessions>"
START_TIMEOUT = 120.0
PHASE = "--"  # a selection line between phases: no node id reads so


def write_selection(path: Path, nodeids: list[str], phases: Sequence[int] = ()) -> None:
    """A selection file: node ids, one a line, in the order they must run; a new phase begins
    before each index of ``phases``."""
    lines = list(nodeids)
    for index in sorted(phases, reverse=True):
        lines.insert(index, PHASE)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_selection(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise pytest.UsageError(
            f"--tf-select: cannot read {path!r} ({exc.strerror}); pass a file of node ids"
        ) from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


class OrderControl:
    """Shuffles the collected items with a seed and/or keeps exactly the selected node ids,
    repeats included, after every other plugin's reordering (history ids are redacted: either
    form matches)."""

    def __init__(self, seed: int | None, selection: list[str] | None) -> None:
        self.seed = seed
        self.selection = selection
        self._phases: list[int] = []  # indices of the runs that begin a phase
        self._runs = 0

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self.seed is not None:
            random.Random(self.seed).shuffle(items)
        if self.selection is None:
            return
        by_id: dict[str, pytest.Item] = {}
        for item in items:
            by_id.setdefault(item.nodeid, item)
            by_id.setdefault(redact(item.nodeid), item)
        wanted: list[pytest.Item] = []
        for nodeid in self.selection:
            if nodeid == PHASE:
                self._phases.append(len(wanted))
            elif nodeid in by_id:
                wanted.append(by_id[nodeid])
        kept = set(map(id, wanted))
        deselected = [item for item in items if id(item) not in kept]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = wanted

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """A test selected twice in a row starts its next run from nothing: pytest, seeing the
        same item next, would keep its fixtures set up. Everything is torn down instead, as
        at the end of a session (module state, the point of a rerun in-process, stays)."""
        if nextitem is item:
            item.session._setupstate.teardown_exact(None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        if not hasattr(session.config, "workerinput"):
            start_together(0)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if self._runs in self._phases:
            start_together(1 + self._phases.index(self._runs))
        self._runs += 1


def start_together(phase: int) -> None:
    """Sessions started with ``START_TOGETHER_ENV`` wait for each other after collection and
    before each phase, so their tests overlap however long each took to get there (a co-run
    of two suspects). A session that never arrives (it crashed) holds the other back for at
    most ``START_TIMEOUT``."""
    value = os.environ.get(START_TOGETHER_ENV)
    if not value:
        return
    directory, _, count = value.rpartition(":")
    Path(directory, f"{phase}-{os.getpid()}").touch()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if sum(name.startswith(f"{phase}-") for name in os.listdir(directory)) >= int(count):
            return
        time.sleep(0.005)
