"""Per-run journal files: every finished attempt is appended before it reaches the store.

A run killed halfway, or one whose store is locked or corrupt, leaves its journal behind; the
next run (or ``tenantfixtures report``) imports it, so no attempt is lost.
"""

import json
from pathlib import Path
from typing import IO, Any

from tenantfixtures.flaky.models import Attempt, Run


class Journal:
    """Append-only JSON lines: one ``run`` header, ``a`` (attempt) rows, an optional ``finish``."""

    def __init__(self, path: Path, run: Run) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._write({"run": run.row()})

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def append(self, attempt: Attempt) -> None:
        self._write({"a": attempt.row()})

    def finish(self, values: dict[str, Any]) -> None:
        self._write({"finish": values})

    def close(self, *, delete: bool) -> None:
        self._file.close()
        if delete:
            self.path.unlink(missing_ok=True)


def read_journal(path: Path) -> tuple[Run | None, list[Attempt], dict[str, Any] | None]:
    """Parse a journal; a torn last line (the process died mid-write) is ignored."""
    run: Run | None = None
    rows: list[Attempt] = []
    finish: dict[str, Any] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "run" in record:
            run = Run.from_row(record["run"])
        elif "a" in record:
            rows.append(Attempt.from_row(record["a"]))
        elif "finish" in record:
            finish = record["finish"]
    return run, rows, finish
