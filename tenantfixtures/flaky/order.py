"""Test order control used by ``tenantfixtures nightly``: seeded shuffles and exact selections.

Both run identically on every xdist worker, so all workers still collect the same list.
"""

import random
from pathlib import Path

import pytest


def read_selection(path: str) -> list[str]:
    """Node ids, one a line, in the order they must run."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise pytest.UsageError(
            f"--tf-select: cannot read {path!r} ({exc.strerror}); pass a file of node ids"
        ) from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


class OrderControl:
    """Shuffles the collected items with a seed and/or keeps exactly the selected node ids."""

    def __init__(self, seed: int | None, selection: list[str] | None) -> None:
        self.seed = seed
        self.selection = selection

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self.seed is not None:
            random.Random(self.seed).shuffle(items)
        if self.selection is not None:
            by_id = {item.nodeid: item for item in items}
            wanted = [by_id[nodeid] for nodeid in self.selection if nodeid in by_id]
            kept = set(map(id, wanted))
            deselected = [item for item in items if id(item) not in kept]
            if deselected:
                config.hook.pytest_deselected(items=deselected)
            items[:] = wanted
