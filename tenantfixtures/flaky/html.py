"""Self-contained HTML report: no script, no external asset; every chart is inline SVG.

The page reads top-down as a reader acts: the summary (counts by class, the nights' trend),
then the tests that need attention with their last failure and replay command, then a runs x
tests heatmap; stable tests are one collapsed line. Charts use SVG presentation attributes, not
CSS, so they still draw when a Content-Security-Policy blocks inline styles (Jenkins artifacts).
The layout wraps within 1280 px: no table is wider than the page.
"""

import html
from collections.abc import Sequence

from tenantfixtures.flaky.classify import wilson
from tenantfixtures.flaky.models import Classification, Outcome, Report, TestSummary, iso
from tenantfixtures.redact import redact

COLOURS = {
    Classification.BROKEN: "#c62828",
    Classification.ORDER_DEPENDENT: "#6b3fa0",
    Classification.PARALLEL_ONLY: "#0063b3",
    Classification.FLAKY: "#b35c00",
    Classification.STABLE: "#2a7d2a",
}
OUTCOME_COLOURS = {
    Outcome.PASSED: "#5cb85c",
    Outcome.XPASSED: "#5cb85c",
    Outcome.FAILED: "#d9534f",
    Outcome.ERROR: "#a94442",
    Outcome.RERUN: "#f0ad4e",
    Outcome.CRASHED: "#222222",
    Outcome.SKIPPED: "#cccccc",
    Outcome.XFAILED: "#cccccc",
}
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;padding:16px 24px;max-width:1200px;
color:#1d1d1f;box-sizing:border-box}
*{box-sizing:inherit}h1{margin:0 0 8px}h2{margin:28px 0 8px;font-size:18px}
.summary{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.counts{border-collapse:collapse}.counts td{padding:2px 10px 2px 0}
.test{border:1px solid #ddd;border-radius:6px;padding:10px 12px;margin:10px 0}
.test h3{margin:0;font-size:14px;overflow-wrap:anywhere}
.meta{color:#444;margin:4px 0}.cls{font-weight:600}
pre{background:#f6f6f8;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0;
font-size:12px}code{font-size:12px;overflow-wrap:anywhere}
svg{max-width:100%;height:auto;display:block}
"""
_PLOT_H = 60
_PAD = 6  # a rate of 0 % or 100 % is drawn inside the frame, not on its edge


def _esc(text: str) -> str:
    return html.escape(redact(text))


def _svg(width: int, height: int, label: str, body: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(label)}">'
        f"<title>{_esc(label)}</title>{''.join(body)}</svg>"
    )


def _y(rate: float) -> float:
    return _PAD + (1 - rate) * (_PLOT_H - 2 * _PAD)


def history_chart(test: TestSummary, width: int = 560) -> str:
    """One bar per recent attempt (red: failed) and the cumulative failure rate as a line."""
    n = len(test.history)
    if not n:
        return ""
    bar = width / n
    body = [f'<rect x="0" y="0" width="{width}" height="{_PLOT_H}" fill="#fafafa" stroke="#ddd"/>']
    points = []
    failed = 0
    for i, (at, was_failed) in enumerate(test.history):
        failed += was_failed
        colour = "#d9534f" if was_failed else "#9fd49f"
        top = _PAD if was_failed else _PLOT_H / 2
        body.append(
            f'<rect x="{i * bar:.1f}" y="{top:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{_PLOT_H / 2 - _PAD:.1f}" '
            f'fill="{colour}"><title>{iso(at)} {"failed" if was_failed else "passed"}'
            "</title></rect>"
        )
        points.append(f"{i * bar + bar / 2:.1f},{_y(failed / (i + 1)):.1f}")
    body.append(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="#111" stroke-width="2"/>'
    )
    body.append(
        f'<text x="2" y="{_PLOT_H + 13}" font-size="11" fill="#444">{n} latest attempts, oldest'
        " left; line: cumulative failure rate (top = 100 %)</text>"
    )
    return _svg(width, _PLOT_H + 16, f"attempt history of {test.nodeid}", body)


def trend_chart(report: Report, width: int = 640) -> str:
    """Failure rate of first attempts per recorded day, with the failing tests as labels."""
    points = report.trend
    if not points:
        return ""
    height = 120
    step = width / max(len(points), 1)
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>']
    scale = max(p.failures / p.attempts for p in points if p.attempts) if points else 0
    scale = max(scale, 0.01)
    for i, point in enumerate(points):
        rate = point.failures / point.attempts if point.attempts else 0.0
        bar = (height - 34) * rate / scale
        x = i * step
        body.append(
            f'<rect x="{x + 2:.1f}" y="{height - 18 - bar:.1f}" width="{max(step - 4, 1):.1f}" '
            f'height="{bar:.1f}" fill="#d9534f"><title>{point.day}: {point.runs} runs, '
            f"{point.failures}/{point.attempts} first attempts failed, {point.failing_tests} "
            "tests</title></rect>"
        )
        if len(points) <= 16 or i % max(len(points) // 8, 1) == 0:
            body.append(
                f'<text x="{x + 2:.1f}" y="{height - 5}" font-size="10" fill="#444">'
                f"{point.day[5:]}</text>"
            )
        body.append(
            f'<text x="{x + 2:.1f}" y="{height - 21 - bar:.1f}" font-size="10" fill="#111">'
            f"{point.failing_tests}</text>"
        )
    label = "failed first attempts per day (bar height; number: failing tests)"
    return _svg(width, height, label, body)


def heatmap(report: Report, width: int = 1150) -> str:
    """Rows: the tests that need attention; columns: the latest runs; colour: final outcome."""
    tests = report.attention()
    columns = report.columns
    if not tests or not columns:
        return ""
    label_w, row_h = 360, 16
    cell = max(min((width - label_w) / len(columns), 24), 4)
    height = row_h * len(tests) + 20
    body = []
    for row, test in enumerate(tests):
        y = row * row_h
        name = test.nodeid if len(test.nodeid) <= 58 else "…" + test.nodeid[-57:]
        body.append(
            f'<text x="0" y="{y + 12}" font-size="11" fill="#111">{_esc(name)}'
            f"<title>{_esc(test.nodeid)}</title></text>"
        )
        outcomes = report.cells.get(test.nodeid, {})
        for col, column in enumerate(columns):
            outcome = outcomes.get(column.run_id)
            colour = OUTCOME_COLOURS[outcome] if outcome is not None else "#f2f2f2"
            tip = f"{column.kind} {iso(column.started_at)}: {outcome or 'not run'}"
            body.append(
                f'<rect x="{label_w + col * cell:.1f}" y="{y + 1}" width="{cell - 1:.1f}" '
                f'height="{row_h - 2}" fill="{colour}"><title>{_esc(tip)}</title></rect>'
            )
    legend = "  ".join(
        f"{name}" for name in ("green passed", "red failed", "orange rerun", "black crashed")
    )
    body.append(
        f'<text x="{label_w}" y="{height - 4}" font-size="10" fill="#444">runs oldest → newest;'
        f" {legend}; grey: not run</text>"
    )
    total = int(label_w + cell * len(columns)) + 2
    return _svg(total, height, "outcome of each run (columns) for each test (rows)", body)


def _test_card(test: TestSummary) -> str:
    colour = COLOURS[test.classification]
    low, high = wilson(test.failures, test.attempts)
    culprits = ", ".join(f"<code>{_esc(c)}</code>" for c in test.culprits) or "none named"
    extra = " (budget ran out: best verdict so far, unconfirmed)" if not test.confirmed else ""
    quarantine = ""
    if test.quarantine is not None:
        quarantine = (
            f" · quarantined by {_esc(test.quarantine.owner)} until {_esc(test.quarantine.expires)}"
        )
    flips = test.flips / (test.attempts - 1) if test.attempts > 1 else 0.0
    crashed = f" · worker crashed {test.crashes}&times;" if test.crashes else ""
    parts = [
        f'<div class="test"><h3><code>{_esc(test.nodeid)}</code></h3>',
        f'<p class="meta"><span class="cls" style="color:{colour}">'
        f"{test.classification.value}</span>{extra}{quarantine} · failed {test.failures}/"
        f"{test.attempts} ({test.failure_rate:.0%}, 95 % CI {low:.0%}&ndash;{high:.0%})"
        f" · flip rate {flips:.0%}{crashed}</p>",
        f'<p class="meta">Culprits: {culprits}. {_esc(test.evidence)}</p>',
    ]
    last = test.last_failure
    if last is not None:
        parts.append(
            f'<p class="meta">Last failure {iso(last.at)} on commit '
            f"<code>{_esc(last.commit or 'unknown')}</code>:</p><pre>{_esc(last.message)}</pre>"
            f'<p class="meta">Replay: <code>{_esc(last.replay)}</code></p>'
        )
    parts.append(history_chart(test))
    parts.append("</div>")
    return "".join(parts)


def to_html(report: Report) -> str:
    counts = report.counts()
    rows = "".join(
        f'<tr><td style="color:{COLOURS[cls]}" class="cls">{cls.value}</td><td>{n}</td></tr>'
        for cls, n in counts.items()
    )
    attention = report.attention()
    stable = report.stable()
    cards = "".join(_test_card(test) for test in attention) or "<p>Nothing needs attention.</p>"
    stable_list = "".join(f"<li><code>{_esc(t.nodeid)}</code></li>" for t in stable)
    grid = heatmap(report)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Flaky-test report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_STYLE}</style></head><body>
<h1>Flaky-test report</h1>
<p>{report.runs} runs, {len(report.tests)} tests, generated {iso(report.generated_at)}.</p>
<div class="summary"><table class="counts">{rows}</table>{trend_chart(report)}</div>
<h2>Needs attention ({len(attention)})</h2>
{cards}
{f"<h2>Outcomes per run</h2>{grid}" if grid else ""}
<h2>Stable</h2>
<details><summary>{len(stable)} stable tests</summary><ul>{stable_list}</ul></details>
</body></html>
"""
    return page
