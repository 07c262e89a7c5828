"""Builds the :class:`~models.Report` and renders it as JSON (the contract), Markdown, JUnit XML.

Every renderer takes the same report; text that came from test output passes through
:func:`redact` once more (the JSON through ``redact_json``, which never replaces a key), so a
report never shows an API key even from an old store. HTML lives in :mod:`html`.
"""

import json
import shlex
import time
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tenantfixtures.flaky import quarantine
from tenantfixtures.flaky.classify import chunks, classify, load_histories, wilson
from tenantfixtures.flaky.html import to_html
from tenantfixtures.flaky.models import (
    Classification,
    LastFailure,
    Outcome,
    QuarantineInfo,
    Report,
    RunColumn,
    TestSummary,
    TrendPoint,
    iso,
)
from tenantfixtures.flaky.schema import SCHEMA_ID
from tenantfixtures.flaky.store import EXECUTED, FAILED, Store, attempts, runs
from tenantfixtures.redact import redact, redact_json

SCHEMA = SCHEMA_ID
MESSAGE_LINES = 6
LINE_CHARS = 200
HEATMAP_RUNS = 40


def replay_command(nodeid: str, run_id: str, history: str) -> str:
    """The shell command that replays one recorded attempt (see ``tenantfixtures replay``)."""
    command = ["tenantfixtures", "replay", f"--history={history}", f"--run={run_id}", nodeid]
    return shlex.join(command)


def first_lines(message: str) -> str:
    """The assertion lines (``E …``) of a pytest failure, else its first lines, redacted."""
    lines = [line for line in redact(message).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    chosen = (errors or lines)[:MESSAGE_LINES]
    return "\n".join(line[:LINE_CHARS] for line in chosen)


def _last_failures(conn: Connection, tests: list[TestSummary], history: str) -> None:
    by_id = {test.nodeid: test for test in tests}
    for chunk in chunks(list(by_id)):
        latest = (
            sa.select(sa.func.max(attempts.c.id))
            .where(attempts.c.nodeid.in_(chunk), attempts.c.outcome.in_(FAILED))
            .group_by(attempts.c.nodeid)
        )
        query = (
            sa.select(
                attempts.c.nodeid,
                attempts.c.run_id,
                attempts.c.started_at,
                attempts.c.message,
                runs.c.commit,
            )
            .join(runs, runs.c.run_id == attempts.c.run_id, isouter=True)
            .where(attempts.c.id.in_(latest))
        )
        for nodeid, run_id, started_at, message, commit in conn.execute(query):
            by_id[nodeid].last_failure = LastFailure(
                message=first_lines(message or "(no message recorded)"),
                commit=commit,
                run_id=run_id,
                at=float(started_at),
                replay=replay_command(nodeid, run_id, history),
            )


def _trend(conn: Connection, since: float | None) -> list[TrendPoint]:
    """Per UTC day: runs, attempts, failures and failing tests (the nights' trend)."""
    query = sa.select(
        attempts.c.run_id, attempts.c.nodeid, attempts.c.outcome, attempts.c.started_at
    ).where(attempts.c.outcome.in_(EXECUTED), attempts.c.attempt == 0)
    if since is not None:
        query = query.where(attempts.c.started_at >= since)
    days: dict[str, tuple[set[str], list[int], set[str]]] = {}
    for run_id, nodeid, outcome, started_at in conn.execute(query):
        day = time.strftime("%Y-%m-%d", time.gmtime(started_at))
        run_ids, figures, failing = days.setdefault(day, (set(), [0, 0], set()))
        run_ids.add(run_id)
        figures[0] += 1
        if Outcome(outcome).failed:
            figures[1] += 1
            failing.add(nodeid)
    return [
        TrendPoint(day, len(run_ids), figures[0], figures[1], len(failing))
        for day, (run_ids, figures, failing) in sorted(days.items())
    ]


def _heatmap(
    conn: Connection, tests: list[TestSummary], since: float | None
) -> tuple[list[RunColumn], dict[str, dict[str, Outcome]]]:
    """The latest runs (oldest first) and each shown test's final outcome in each of them."""
    query = sa.select(runs.c.run_id, runs.c.started_at, runs.c.kind, runs.c.commit)
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    latest = conn.execute(query.order_by(runs.c.started_at.desc()).limit(HEATMAP_RUNS)).all()
    columns = [RunColumn(r[0], float(r[1]), r[2], r[3]) for r in reversed(latest)]
    cells: dict[str, dict[str, Outcome]] = {test.nodeid: {} for test in tests}
    run_ids = [column.run_id for column in columns]
    for chunk in chunks(list(cells)):
        rows = conn.execute(
            sa.select(attempts.c.nodeid, attempts.c.run_id, attempts.c.outcome)
            .where(attempts.c.nodeid.in_(chunk), attempts.c.run_id.in_(run_ids))
            .order_by(attempts.c.id)
        )
        for nodeid, run_id, outcome in rows:
            cells[nodeid][run_id] = Outcome(outcome)  # the last attempt of the run wins
    return columns, cells


def build_report(
    store: Store,
    since: float | None = None,
    entries: list[quarantine.Entry] | None = None,
    release_after: int = 30,
) -> Report:
    """Classify the history; quarantined tests clean for ``release_after`` attempts are named."""
    entries = entries or []
    with store.connect() as conn:
        run_count, tests = classify(conn, since)
        by_id = {test.nodeid: test for test in tests}
        attention = [test for test in tests if test.needs_attention]
        quarantined = [by_id[e.test] for e in entries if e.test in by_id]
        load_histories(conn, [*attention, *quarantined], limit=max(60, release_after))
        _last_failures(conn, attention, store.label)
        trend = _trend(conn, since)
        columns, cells = _heatmap(conn, attention, since)
    release = []
    for entry in entries:
        test = by_id.get(entry.test)
        if test is None:
            continue
        test.quarantine = QuarantineInfo(entry.owner, entry.reason, str(entry.expires))
        recent = test.history[-release_after:]
        if len(recent) >= release_after and not any(failed for _, failed in recent):
            release.append(entry.test)
    return Report(run_count, tests, time.time(), release, trend, columns, cells)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def entry_json(test: TestSummary) -> dict[str, Any]:
    """One test's entry of the JSON contract (see :mod:`schema`)."""
    low, high = wilson(test.failures, test.attempts)
    last = test.last_failure
    return {
        "nodeid": test.nodeid,
        "classification": test.classification.value,
        "attempts": test.attempts,
        "failures": test.failures,
        "failure_rate": round(test.failure_rate, 4),
        "culprits": list(test.culprits),
        "evidence": test.evidence,
        "failure_rate_ci95": [round(low, 4), round(high, 4)],
        "first_attempt_failure_rate": _rate(test.first_failures, test.first_attempts),
        "final_failure_rate": _rate(test.final_failures, test.first_attempts),
        "flip_rate": _rate(test.flips, test.attempts - 1),
        "last_seen": iso(test.last_seen),
        "crashes": test.crashes,
        "p_value": test.p_value,
        "confirmed": test.confirmed,
        "quarantine": None
        if test.quarantine is None
        else {
            "owner": test.quarantine.owner,
            "reason": test.quarantine.reason,
            "expires": test.quarantine.expires,
        },
        "last_failure": None
        if last is None
        else {
            "message": last.message,
            "commit": last.commit,
            "run_id": last.run_id,
            "at": iso(last.at),
            "replay": last.replay,
        },
    }


def to_json(report: Report) -> str:
    data = {
        "schema": SCHEMA,
        "generated_at": iso(report.generated_at),
        "runs": report.runs,
        "tests": [entry_json(test) for test in report.tests],
        "release_suggested": report.release_candidates,
        "counts": {cls.value: n for cls, n in report.counts().items()},
        "trend": [
            {
                "day": p.day,
                "runs": p.runs,
                "attempts": p.attempts,
                "failures": p.failures,
                "failing_tests": p.failing_tests,
            }
            for p in report.trend
        ],
        "budget_exhausted": any(not test.confirmed for test in report.tests),
    }
    return json.dumps(redact_json(data), indent=2) + "\n"


def _md_cell(text: str) -> str:
    return redact(text).replace("|", "\\|").replace("\n", "<br>")


def _md_code(text: str) -> str:
    return f"`{_md_cell(text).replace('`', '')}`"


def to_markdown(report: Report) -> str:
    lines = [
        "## Flaky-test report",
        "",
        f"{report.runs} runs, {len(report.tests)} tests, generated {iso(report.generated_at)}: "
        + ", ".join(f"**{n}** {cls.value}" for cls, n in report.counts().items()),
        "",
    ]
    attention = report.attention()
    if attention:
        lines += [
            "| Test | Class | Failures | Rate (95 % CI) | Culprits | Evidence |",
            "|---|---|---|---|---|---|",
        ]
        for test in attention:
            low, high = wilson(test.failures, test.attempts)
            culprits = "<br>".join(_md_code(c) for c in test.culprits) or "-"
            quarantined = " (quarantined)" if test.quarantine else ""
            unconfirmed = " (budget ran out: unconfirmed)" if not test.confirmed else ""
            lines.append(
                f"| {_md_code(test.nodeid)}{quarantined} | {test.classification.value}"
                f"{unconfirmed} | {test.failures}/{test.attempts} | "
                f"{test.failure_rate:.0%} ({low:.0%}-{high:.0%}) | "
                f"{culprits} | {_md_cell(test.evidence)} |"
            )
        lines += ["", "### Last failures", ""]
        for test in attention:
            last = test.last_failure
            if last is None:
                continue
            lines += [
                f"**{_md_code(test.nodeid)}** ({test.classification.value}), commit "
                f"`{last.commit or 'unknown'}`, {iso(last.at)}:",
                "",
                "```",
                redact(last.message).replace("```", "'''"),
                "```",
                f"Replay: `{redact(last.replay)}`",
                "",
            ]
    else:
        lines.append("No flaky, broken, order-dependent or parallel-only tests. :white_check_mark:")
    if report.release_candidates:
        lines += ["", "**Suggested release from quarantine** (no failure lately):", ""]
        lines += [f"- {_md_code(nodeid)}" for nodeid in report.release_candidates]
    return "\n".join(lines) + "\n"


def _split_nodeid(nodeid: str) -> tuple[str, str, str]:
    """(file, classname, name) as pytest's own JUnit XML writes them."""
    path, _, name = nodeid.partition("::")
    inner, _, leaf = name.rpartition("::")
    module = path.removesuffix(".py").replace("/", ".")
    classname = ".".join(part for part in (module, inner.replace("::", ".")) if part)
    return path, classname or leaf, leaf or nodeid


def to_junit(report: Report) -> str:
    """One ``<testcase>`` per test: broken ones fail; flaky ones pass with ``<flakyFailure>``."""
    suite = ET.Element(
        "testsuite",
        name="tenantfixtures.flaky",
        tests=str(len(report.tests)),
        failures=str(sum(t.classification is Classification.BROKEN for t in report.tests)),
        errors="0",
        skipped="0",
        timestamp=iso(report.generated_at),
    )
    for test in report.tests:
        path, classname, name = (redact(part) for part in _split_nodeid(test.nodeid))
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, file=path)
        props = ET.SubElement(case, "properties")
        for key, value in _junit_properties(test).items():
            ET.SubElement(props, "property", name=key, value=redact(value))
        message = redact(f"{test.classification.value}: {test.evidence}")
        detail = f"{test.failures} of {test.attempts} attempts failed"
        if test.last_failure is not None:
            detail += f"\n{redact(test.last_failure.message)}\nreplay: {test.last_failure.replay}"
        if test.classification is Classification.BROKEN:
            failure = ET.SubElement(case, "failure", message=message, type="broken")
            failure.text = redact(detail)
        elif test.classification.unhealthy:
            kind = test.classification.value
            flaky = ET.SubElement(case, "flakyFailure", message=message, type=kind)
            flaky.text = redact(detail)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_properties(test: TestSummary) -> dict[str, str]:
    unhealthy = test.classification.unhealthy
    props: dict[str, Any] = {
        "classification": test.classification.value,
        "flaky": str(unhealthy and test.classification is not Classification.BROKEN).lower(),
        "attempts": test.attempts,
        "failures": test.failures,
        "failure_rate": f"{test.failure_rate:.4f}",
    }
    if test.crashes:
        props["crashes"] = test.crashes
    if test.culprits:
        props["culprits"] = " ".join(test.culprits)
    if test.p_value is not None:
        props["p_value"] = f"{test.p_value:.2g}"
    if test.last_failure is not None:
        props["commit"] = test.last_failure.commit or ""
        props["replay"] = test.last_failure.replay
    if test.quarantine:
        props["quarantined"] = "true"
    return {key: str(value) for key, value in props.items()}


RENDERERS: dict[str, Callable[[Report], str]] = {
    "json": to_json,
    "md": to_markdown,
    "junit": to_junit,
    "html": to_html,
}
FORMATS = tuple(RENDERERS)


def render(report: Report, fmt: str) -> str:
    """The report in ``fmt``: one of :data:`FORMATS`."""
    return RENDERERS[fmt](report)
