"""``tenantfixtures ingest``: JUnit XML from other runs, shards or tools into the history store.

One file is one run; its id is the hash of the file, so ingesting twice changes nothing.
pytest's files name ``classname`` as a dotted module path, which is mapped back to a node id
when the module exists under ``rootdir``; other tools' ids are kept as ``classname::name``.
Rerun children (``flakyFailure``, ``rerunFailure``, ...) become earlier attempts.
"""

import hashlib
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from tenantfixtures.flaky.store import Store
from tenantfixtures.redact import redact

_RERUN_TAGS = ("flakyFailure", "flakyError", "rerunFailure", "rerunError")


class IngestError(Exception):
    """The file is not JUnit XML we can read."""


def _nodeid(classname: str, name: str, rootdir: Path) -> str:
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = Path(*parts[:cut]).with_suffix(".py")
        if (rootdir / module).is_file():
            return "::".join([module.as_posix(), *parts[cut:], name])
    return f"{classname}::{name}" if classname else name


def _outcome(case: ET.Element) -> tuple[str, str | None]:
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        child = case.find(tag)
        if child is not None:
            text = child.get("message", "") + "\n" + (child.text or "")
            return outcome, redact(text.strip())[-2000:] if outcome != "skipped" else None
    return "passed", None


def _started(suite: ET.Element, fallback: float) -> float:
    stamp = suite.get("timestamp")
    if stamp:
        try:
            return datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            pass
    return fallback


def parse(
    path: Path, rootdir: Path, meta: Mapping[str, str | None]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run row and attempt rows for one JUnit file."""
    try:
        data = path.read_bytes()
        root = ET.fromstring(data)
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror}") from exc
    except ET.ParseError as exc:
        raise IngestError(f"{path} is not XML ({exc}); pass JUnit XML files") from exc
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites"):
        raise IngestError(f"{path}: root element <{root.tag}> is not <testsuites>/<testsuite>")
    run_id = "junit-" + hashlib.sha256(data).hexdigest()[:40]
    clock = _started(suites[0], path.stat().st_mtime) if suites else path.stat().st_mtime
    run = {"run_id": run_id, "kind": f"junit:{path.name}", "started_at": clock, **meta}
    rows: list[dict[str, Any]] = []
    for suite in suites:
        clock = _started(suite, clock)
        for case in suite.iter("testcase"):
            nodeid = _nodeid(case.get("classname", ""), case.get("name", ""), rootdir)
            duration = float(case.get("time", "0") or 0)
            reruns = [child for child in case if child.tag in _RERUN_TAGS]
            for attempt, child in enumerate(reruns):
                message = redact((child.get("message", "") + "\n" + (child.text or "")).strip())
                rows.append(
                    _row(run_id, len(rows) + 1, nodeid, attempt, "rerun", 0.0, clock, message)
                )
            outcome, last = _outcome(case)
            rows.append(
                _row(run_id, len(rows) + 1, nodeid, len(reruns), outcome, duration, clock, last)
            )
            clock += duration
    return run, rows


def _row(
    run_id: str,
    seq: int,
    nodeid: str,
    attempt: int,
    outcome: str,
    duration: float,
    start: float,
    message: str | None,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "nodeid": nodeid,
        "attempt": attempt,
        "phase": "call",
        "outcome": outcome,
        "duration": duration,
        "worker": None,
        "position": seq - 1,
        "seed": None,
        "started_at": start,
        "stopped_at": start + duration,
        "message": message,
    }


def ingest(store: Store, path: Path, rootdir: Path, meta: Mapping[str, str | None]) -> int:
    """Store one file's attempts; 0 when it was ingested before."""
    run, rows = parse(path, rootdir, meta)
    if store.has_run(run["run_id"]):
        return 0
    store.add_run(run)
    store.add_attempts(rows)
    store.finish_run(run["run_id"], time.time(), None)
    return len(rows)
