"""Test order control used by ``nightly`` and ``replay``: seeded shuffles and exact selections.

Both run identically on every xdist worker, so all workers still collect the same list.
"""

import random
from pathlib import Path

import pytest

from tenantfixtures.redact import redact


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
    after every other plugin's reordering (history ids are redacted: either form matches)."""

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
        wanted: list[pytest.Item] = []
        for nodeid in self.selection:
            found = by_id.get(nodeid)
            if found is not None and found not in wanted:
                wanted.append(found)
        kept = set(map(id, wanted))
        deselected = [item for item in items if id(item) not in kept]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = wanted
