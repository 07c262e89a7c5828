"""Report renderers: JSON (the contract), Markdown (CI job summary), JUnit XML, HTML.

Every renderer takes the same :class:`Report`; strings that came from test output pass through
:func:`redact` once more, so a report never shows an API key even from an old store.
"""

import json
import time
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from tenantfixtures.flaky import quarantine
from tenantfixtures.flaky.classify import TestReport, classify, iso, load_histories
from tenantfixtures.flaky.store import Store
from tenantfixtures.redact import redact

SCHEMA = "tenantfixtures.flaky/1"


@dataclass
class Report:
    runs: int
    tests: list[TestReport]
    generated_at: float
    release_candidates: list[str]

    def unhealthy(self) -> list[TestReport]:
        return [t for t in self.tests if t.classification != "stable"]


def to_json(report: Report) -> str:
    data = {
        "schema": SCHEMA,
        "generated_at": iso(report.generated_at),
        "runs": report.runs,
        "tests": [test.to_json() for test in report.tests],
        "release_suggested": report.release_candidates,
    }
    return redact(json.dumps(data, indent=2)) + "\n"


def _md_cell(text: str) -> str:
    return redact(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    counts = dict.fromkeys(("stable", "flaky", "broken", "order-dependent", "parallel-only"), 0)
    for test in report.tests:
        counts[test.classification] += 1
    lines = [
        "## Flaky-test report",
        "",
        f"{report.runs} runs, {len(report.tests)} tests, generated {iso(report.generated_at)}: "
        + ", ".join(f"**{n}** {name}" for name, n in counts.items()),
        "",
    ]
    unhealthy = report.unhealthy()
    if unhealthy:
        lines += [
            "| Test | Class | Failures | Rate (95 % CI) | Culprits | Evidence |",
            "|---|---|---|---|---|---|",
        ]
        for test in unhealthy:
            low, high = test.to_json()["failure_rate_ci95"]
            culprits = "<br>".join(f"`{c}`" for c in test.culprits) or "-"
            quarantined = " (quarantined)" if test.quarantine else ""
            lines.append(
                f"| `{test.nodeid}`{quarantined} | {test.classification} | "
                f"{test.failures}/{test.attempts} | "
                f"{test.failure_rate:.0%} ({low:.0%}-{high:.0%}) | "
                f"{_md_cell(culprits)} | {_md_cell(test.evidence)} |"
            )
    else:
        lines.append("No flaky, broken, order-dependent or parallel-only tests. :white_check_mark:")
    if report.release_candidates:
        lines += ["", "**Suggested release from quarantine** (no failure lately):", ""]
        lines += [f"- `{nodeid}`" for nodeid in report.release_candidates]
    return "\n".join(lines) + "\n"


def _split_nodeid(nodeid: str) -> tuple[str, str]:
    path, _, name = nodeid.rpartition("::")
    classname = path.replace("/", ".").removesuffix(".py").replace(".py::", ".").replace("::", ".")
    return classname or name, name


def to_junit(report: Report) -> str:
    """One ``<testcase>`` per test: broken ones fail; flaky ones pass with ``<flakyFailure>``."""
    unhealthy = [t for t in report.tests if t.classification != "stable"]
    suite = ET.Element(
        "testsuite",
        name="tenantfixtures.flaky",
        tests=str(len(report.tests)),
        failures=str(sum(t.classification == "broken" for t in report.tests)),
        errors="0",
        skipped="0",
        timestamp=iso(report.generated_at),
    )
    for test in report.tests:
        classname, name = _split_nodeid(test.nodeid)
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, file=test.nodeid)
        props = ET.SubElement(case, "properties")
        for key, value in _junit_properties(test).items():
            ET.SubElement(props, "property", name=key, value=value)
        message = redact(f"{test.classification}: {test.evidence}")
        if test.classification == "broken":
            ET.SubElement(case, "failure", message=message, type="broken")
        elif test in unhealthy:
            flaky = ET.SubElement(case, "flakyFailure", message=message, type=test.classification)
            flaky.text = f"{test.failures} of {test.attempts} attempts failed"
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_properties(test: TestReport) -> dict[str, str]:
    props: dict[str, Any] = {
        "classification": test.classification,
        "flaky": str(test.classification not in ("stable", "broken")).lower(),
        "attempts": test.attempts,
        "failures": test.failures,
        "failure_rate": f"{test.failure_rate:.4f}",
    }
    if test.culprits:
        props["culprits"] = " ".join(test.culprits)
    if test.quarantine:
        props["quarantined"] = "true"
    return {key: str(value) for key, value in props.items()}


def build_report(
    store: Store,
    since: float | None = None,
    entries: list[quarantine.Entry] | None = None,
    release_after: int = 30,
) -> Report:
    """Classify the history; quarantined tests clean for ``release_after`` attempts are named."""
    entries = entries or []
    with store.connect() as conn:
        runs, tests = classify(conn, since)
        by_id = {test.nodeid: test for test in tests}
        quarantined = [by_id[e.test] for e in entries if e.test in by_id]
        load_histories(conn, [*report_charted(tests), *quarantined], limit=max(60, release_after))
    release = []
    for entry in entries:
        test = by_id.get(entry.test)
        if test is None:
            continue
        test.quarantine = {
            "owner": entry.owner,
            "reason": entry.reason,
            "expires": str(entry.expires),
        }
        recent = test.history[-release_after:]
        if len(recent) >= release_after and not any(failed for _, failed in recent):
            release.append(entry.test)
    return Report(runs, tests, time.time(), release)


def report_charted(tests: list[TestReport]) -> list[TestReport]:
    """Tests whose history the HTML report charts: every one that is not stable."""
    return [test for test in tests if test.classification != "stable"]


def render(report: Report, fmt: str) -> str:
    """The report in ``fmt``: json, md, junit or html."""
    from tenantfixtures.flaky.html import to_html

    renderers = {"json": to_json, "md": to_markdown, "junit": to_junit, "html": to_html}
    return renderers[fmt](report)
