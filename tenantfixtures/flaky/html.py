"""Self-contained HTML report: no external assets; the page's script draws one SVG chart per
unhealthy test from the data embedded in the page (one bar per attempt, red when it failed)."""

import html
import json
from collections import Counter

from tenantfixtures.flaky.classify import TestReport, iso, wilson
from tenantfixtures.flaky.report import Report
from tenantfixtures.redact import redact

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d1d1f}
table{border-collapse:collapse;width:100%;margin-top:12px}
th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f6}.cls{font-weight:600;white-space:nowrap}
.flaky{color:#b35c00}.broken{color:#c00}.order-dependent{color:#6b3fa0}
.parallel-only{color:#0063b3}.stable{color:#2a7d2a}code{font-size:12px}
svg.tf-chart{display:block;background:#fafafa;border:1px solid #e3e3e3;margin-top:4px}
"""

_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('tf-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    return node;
  }
  data.forEach(function (test, index) {
    var holder = document.getElementById('chart-' + index);
    var n = test.history.length, width = 480, height = 70;
    var bar = Math.max(2, width / Math.max(n, 1));
    var svg = el('svg', {'class': 'tf-chart', width: width, height: height + 14,
                         role: 'img', 'aria-label': 'attempt history of ' + test.nodeid});
    var failed = 0, points = [];
    test.history.forEach(function (attempt, i) {
      var rect = el('rect', {x: i * bar, y: attempt[1] ? 0 : height / 2, width: bar - 1,
                             height: height / 2, fill: attempt[1] ? '#d33' : '#4a4'});
      var tip = el('title', {});
      tip.textContent = attempt[0] + (attempt[1] ? ' failed' : ' passed');
      rect.appendChild(tip); svg.appendChild(rect);
      failed += attempt[1] ? 1 : 0;
      var rate = failed / (i + 1);
      points.push((i * bar + bar / 2).toFixed(1) + ',' + (height - height * rate).toFixed(1));
    });
    svg.appendChild(el('polyline', {points: points.join(' '), fill: 'none', stroke: '#222',
                                    'stroke-width': 1.5, 'class': 'tf-rate'}));
    var label = el('text', {x: 2, y: height + 12, 'font-size': 10});
    label.textContent = n + ' latest attempts (oldest left); line: cumulative failure rate';
    svg.appendChild(label);
    holder.appendChild(svg);
  });
})();
"""


def _row(test: TestReport, index: int | None) -> str:
    esc = html.escape
    culprits = "<br>".join(f"<code>{esc(c)}</code>" for c in test.culprits) or "&ndash;"
    chart = f'<div id="chart-{index}"></div>' if index is not None else ""
    low, high = wilson(test.failures, test.attempts)
    flips = test.flips / (test.attempts - 1) if test.attempts > 1 else 0.0
    cls = esc(test.classification)
    return (
        f'<tr><td><code>{esc(test.nodeid)}</code>{chart}</td><td class="cls {cls}">{cls}</td>'
        f"<td>{test.failures}/{test.attempts}</td>"
        f"<td>{test.failure_rate:.1%} ({low:.0%}&ndash;{high:.0%})</td><td>{flips:.1%}</td>"
        f"<td>{culprits}</td><td>{esc(test.evidence)}</td></tr>"
    )


def to_html(report: Report) -> str:
    unhealthy = report.unhealthy()
    charted = [
        {"nodeid": t.nodeid, "history": [[iso(s), f] for s, f in t.history]} for t in unhealthy
    ]
    rows = [_row(t, i) for i, t in enumerate(unhealthy)]
    rows += [_row(t, None) for t in report.tests if t.classification == "stable"]
    payload = json.dumps(charted).replace("</", "<\\/")
    counts = Counter(test.classification for test in report.tests)
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Flaky-test report</title>
<style>{_STYLE}</style></head><body>
<h1>Flaky-test report</h1>
<p>{report.runs} runs, {len(report.tests)} tests ({html.escape(summary)}),
generated {iso(report.generated_at)}.</p>
<table><thead><tr><th>Test and history</th><th>Class</th><th>Failures</th>
<th>Failure rate (95 % CI)</th><th>Flip rate</th><th>Culprits</th><th>Evidence</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody></table>
<script type="application/json" id="tf-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
    return redact(page)
