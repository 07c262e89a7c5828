"""``tenantfixtures ingest``: JUnit XML from other runs, shards or tools into the history store.

One file is one run; its id is the hash of the file, so ingesting twice changes nothing.
pytest's files name ``classname`` as a dotted module path, which is mapped back to a node id
when the module exists under ``rootdir``; other tools' ids are kept as ``classname::name``.
Rerun children (``flakyFailure``, ``rerunFailure``, ...) become earlier attempts.
"""

import hashlib
import time
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from tenantfixtures.flaky.meta import RunMeta
from tenantfixtures.flaky.models import Attempt, Outcome, Run
from tenantfixtures.flaky.record import MESSAGE_CHARS
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


def _outcome(case: ET.Element) -> tuple[Outcome, str | None]:
    for tag, outcome in (
        ("failure", Outcome.FAILED),
        ("error", Outcome.ERROR),
        ("skipped", Outcome.SKIPPED),
    ):
        child = case.find(tag)
        if child is not None:
            return outcome, _message(child) if outcome is not Outcome.SKIPPED else None
    return Outcome.PASSED, None


def _message(child: ET.Element) -> str:
    text = (child.get("message", "") + "\n" + (child.text or "")).strip()
    return redact(text)[-MESSAGE_CHARS:]


def _started(suite: ET.Element, fallback: float) -> float:
    stamp = suite.get("timestamp")
    if stamp:
        try:
            return datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            pass
    return fallback


def parse(path: Path, rootdir: Path, meta: RunMeta) -> tuple[Run, list[Attempt]]:
    """The run and its attempts for one JUnit file."""
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
    run = Run(run_id=run_id, kind=f"junit:{path.name}", started_at=clock, **meta)
    rows: list[Attempt] = []

    def add(
        nodeid: str, attempt: int, outcome: Outcome, duration: float, message: str | None
    ) -> None:
        seq = len(rows) + 1
        rows.append(
            Attempt(
                run_id=run_id,
                seq=seq,
                nodeid=nodeid,
                attempt=attempt,
                outcome=outcome,
                duration=duration,
                position=seq - 1,
                started_at=clock,
                stopped_at=clock + duration,
                message=message,
            )
        )

    for suite in suites:
        clock = _started(suite, clock)
        for case in suite.iter("testcase"):
            nodeid = redact(_nodeid(case.get("classname", ""), case.get("name", ""), rootdir))
            duration = float(case.get("time", "0") or 0)
            reruns = [child for child in case if child.tag in _RERUN_TAGS]
            for attempt, child in enumerate(reruns):
                add(nodeid, attempt, Outcome.RERUN, 0.0, _message(child))
            outcome, last = _outcome(case)
            add(nodeid, len(reruns), outcome, duration, last)
            clock += duration
    return run, rows


def ingest(store: Store, path: Path, rootdir: Path, meta: RunMeta) -> int:
    """Store one file's attempts; 0 when it was ingested before."""
    run, rows = parse(path, rootdir, meta)
    if store.run(run.run_id) is not None:
        return 0
    store.add_run(run)
    store.add_attempts(rows)
    store.finish_run(run.run_id, time.time(), None)
    return len(rows)
