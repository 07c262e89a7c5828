"""Test order control used by ``nightly`` and ``replay``: seeded shuffles, exact selections in
which a test may come back (confirmation reruns a test in one process instead of paying a
session per run), and a common start for sessions meant to run side by side.

All of it runs identically on every xdist worker, so all workers still collect the same list.
"""

import os
import random
import time
from pathlib import Path

import pytest

from tenantfixtures.redact import redact

START_TOGETHER_ENV = "TENANTFIXTURES_START_TOGETHER"  # "<directory>:<number of sessions>"
START_TIMEOUT = 120.0


def write_selection(path: Path, nodeids: list[str]) -> None:
    """A selection file: node ids, one a line, in the order they must run."""
    path.write_text("\n".join(nodeids) + "\n", encoding="utf-8")


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
        wanted = [by_id[nodeid] for nodeid in self.selection if nodeid in by_id]
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
            start_together()


def start_together() -> None:
    """Sessions started with ``START_TOGETHER_ENV`` wait for each other after collection, so
    their tests overlap however long each took to start (a co-run of two suspects)."""
    value = os.environ.get(START_TOGETHER_ENV)
    if not value:
        return
    directory, _, count = value.rpartition(":")
    Path(directory, str(os.getpid())).touch()
    deadline = time.monotonic() + START_TIMEOUT
    while len(os.listdir(directory)) < int(count) and time.monotonic() < deadline:
        time.sleep(0.005)
