"""Classification and the report formats, over stores filled by real runs or known rows."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tenantfixtures.cli import main
from tenantfixtures.flaky.models import Attempt, Classification, Finding, Outcome, Run
from tenantfixtures.flaky.store import Store
from tenantfixtures.redact import MARK, redact

SECRET = "sk-live1234567890abcdefXYZ"


def _fill(db: Path, extra: dict[str, list[str]] | None = None) -> None:
    """Two commits: stable, broken, flaky, fixed-later, parallel-only and an OD finding."""
    store = Store(str(db))
    seq = 0
    outcomes = {
        "t.py::test_stable": ["passed"] * 6,
        "t.py::test_broken": ["failed"] * 6,
        "t.py::test_flaky": ["passed", "failed", "passed", "passed", "rerun", "passed"],
        "t.py::test_victim": ["passed", "failed", "passed", "failed", "passed", "passed"],
        "t.py::test_fixed": ["failed", "failed", "passed", "passed", "passed", "passed"],
        "t.py::test_parallel": ["passed", "failed", "passed", "failed", "passed", "passed"],
        **(extra or {}),
    }
    for run in range(6):
        commit = "c1" if run < 2 else "c2"
        run_id = f"r{run}"
        store.add_run(Run(run_id=run_id, started_at=1000.0 + run, commit=commit))
        rows = []
        for nodeid, seq_outcomes in outcomes.items():
            seq += 1
            outcome = Outcome(seq_outcomes[run])
            parallel = nodeid.endswith("parallel") and run % 2 == 1
            leak = f"E   AssertionError: Authorization: Bearer {SECRET} api_key={SECRET}"
            rows.append(
                Attempt(
                    run_id=run_id, seq=seq, nodeid=nodeid, attempt=0, outcome=outcome,
                    duration=0.1, worker="gw0" if parallel else None, started_at=1000.0 + run,
                    stopped_at=1000.1 + run, message=leak if outcome.failed else None,
                )
            )  # fmt: skip
        store.add_attempts(rows)
    store.add_findings(
        [
            Finding(
                nodeid="t.py::test_victim", commit="c2",
                classification=Classification.ORDER_DEPENDENT,
                culprits=("t.py::test_polluter",), evidence=f"fails after polluter {SECRET}",
                p_value=0.004, created_at=time.time(),
            )
        ]
    )  # fmt: skip
    store.close()


def _report(db: Path, fmt: str, tmp_path: Path, *extra: str) -> str:
    out = tmp_path / f"report.{fmt}"
    assert main(["report", f"--history={db}", f"--format={fmt}", f"--output={out}", *extra]) == 0
    return out.read_text()


def test_json_report_contract(tmp_path, valid_report):
    db = tmp_path / "h.db"
    _fill(db)
    data = valid_report(_report(db, "json", tmp_path))
    assert data["schema"] == "tenantfixtures.flaky/1"
    assert data["runs"] == 6
    time.strptime(data["generated_at"], "%Y-%m-%dT%H:%M:%SZ")
    tests = {t["nodeid"]: t for t in data["tests"]}
    contract = (
        "nodeid",
        "classification",
        "attempts",
        "failures",
        "failure_rate",
        "culprits",
        "evidence",
    )
    for test in data["tests"]:
        assert set(contract) <= set(test)
        assert test["failure_rate"] == round(test["failures"] / test["attempts"], 4)
    summary = {
        n: (t["classification"], t["attempts"], t["failures"], t["culprits"])
        for n, t in tests.items()
    }
    assert summary == {
        "t.py::test_stable": ("stable", 6, 0, []),
        "t.py::test_broken": ("broken", 6, 6, []),
        "t.py::test_flaky": ("flaky", 6, 2, []),
        "t.py::test_victim": ("order-dependent", 6, 2, ["t.py::test_polluter"]),
        "t.py::test_fixed": ("stable", 6, 2, []),
        "t.py::test_parallel": ("parallel-only", 6, 2, []),
    }
    flaky = tests["t.py::test_flaky"]
    assert flaky["first_attempt_failure_rate"] == round(2 / 6, 4)
    assert flaky["final_failure_rate"] == round(1 / 6, 4)  # the rerun attempt passed afterwards
    assert flaky["flip_rate"] == round(4 / 5, 4)
    low, high = flaky["failure_rate_ci95"]
    assert 0 < low < 2 / 6 < high < 1
    assert flaky["last_seen"] == "1970-01-01T00:16:45Z"
    assert tests["t.py::test_broken"]["evidence"] == "failed all 4 attempts on commit c2"
    assert "older commits" in tests["t.py::test_fixed"]["evidence"]


def test_since_window_and_cli_errors(tmp_path, capsys, valid_report):
    db = tmp_path / "h.db"
    _fill(db)  # all attempts are from 1970
    assert valid_report(_report(db, "json", tmp_path, "--since=14d"))["tests"] == []
    with pytest.raises(SystemExit) as exc:
        main(["report", f"--history={db}", "--since=fortnight"])
    assert exc.value.code == 2
    assert "use a number and m/h/d/w" in capsys.readouterr().err
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 200)
    assert main(["report", f"--history={bad}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tenantfixtures report: error: history store")
    assert "\n" not in err


def test_markdown_and_junit_mark_unhealthy_tests(tmp_path):
    db = tmp_path / "h.db"
    _fill(db)
    md = _report(db, "md", tmp_path)
    assert md.startswith("## Flaky-test report")
    assert "| `t.py::test_flaky` | flaky | 2/6 |" in md
    assert "`t.py::test_polluter`" in md
    assert "test_stable`" not in md
    suite = ET.fromstring(_report(db, "junit", tmp_path)).find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["test_broken"].find("failure") is not None
    for name in ("test_flaky", "test_victim", "test_parallel"):
        assert cases[name].find("flakyFailure") is not None, name
        assert cases[name].find("failure") is None
    assert cases["test_stable"].find("flakyFailure") is None
    props = {p.get("name"): p.get("value") for p in cases["test_victim"].iter("property")}
    assert props["classification"] == "order-dependent"
    assert props["flaky"] == "true"
    assert props["culprits"] == "t.py::test_polluter"


def test_no_secret_reaches_store_or_reports(pytester, tmp_path):
    pytester.makepyfile(
        f"""
        def test_leaks():
            headers = {{"Authorization": "Bearer {SECRET}"}}
            assert headers is None, "api_key={SECRET} x-api-key: {SECRET}"
        """
    )
    pytester.runpytest_subprocess("-p", "tenantfixtures", "--tf-history=h.db").assert_outcomes(
        failed=1
    )
    store = Store(str(pytester.path / "h.db"))
    with store.connect() as conn:
        messages = [row[0] for row in conn.exec_driver_sql("SELECT message FROM tf_attempts")]
    store.close()
    assert messages[0]
    assert MARK in messages[0]
    assert SECRET not in messages[0]
    _fill(tmp_path / "f.db")  # old store rows with raw secrets: reports redact again
    for fmt in ("json", "md", "html", "junit"):
        for db in (pytester.path / "h.db", tmp_path / "f.db"):
            text = _report(db, fmt, tmp_path)
            assert SECRET not in text, fmt
            assert "sk-live" not in text, fmt


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_report_renders_in_a_real_browser_without_scripts(tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI: apt-get install -y chromium")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    db = tmp_path / "h.db"
    _fill(
        db,
        {
            f"tests/test_{'long_module_name_' * 4}{i}.py::test_{'x' * 80}": (
                ["failed", "passed"] * 3
            )
            for i in range(3)
        },
    )
    html = _report(db, "html", tmp_path)
    assert "<script" not in html
    page = tmp_path / "report.html"
    page.write_text(html)
    # A copy with a probe that writes the page's scroll width into the DOM (the report has none).
    probe = tmp_path / "probe.html"
    probe.write_text(
        html.replace(
            "</body>",
            "<script>document.body.setAttribute('data-scroll',"
            " document.documentElement.scrollWidth)</script></body>",
        )
    )
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900",
    ]  # fmt: skip
    # Headless Chromium's --dump-dom and --screenshot need its own scripting, so scripts stay
    # enabled; the page has none (asserted above), so what renders is the markup itself.
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert dom.count("<svg") >= 5
    assert dom.count("<rect") >= 4 * 6
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    match = re.search(r'data-scroll="(\d+)"', dom)
    assert match, dom[-500:]
    assert int(match.group(1)) <= 1280  # no horizontal scroll at 1280 px
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("TF_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_html_report_layout(tmp_path):
    db = tmp_path / "h.db"
    _fill(db)
    html = _report(db, "html", tmp_path)
    assert "<script" not in html
    summary, attention, heat, stable = (
        html.index(marker)
        for marker in ('class="counts"', "Needs attention", "Outcomes per run", "stable tests")
    )
    assert summary < attention < heat < stable  # summary first, stable tests last
    assert "<details><summary>2 stable tests</summary>" in html  # collapsed to a count
    assert html.index("t.py::test_broken") < html.index("t.py::test_flaky")  # worst first
    assert "test_stable" not in html[: html.index("<details>")]
    assert html.count("<svg") == 1 + 4 + 1  # trend, one history per unhealthy test, heatmap
    # A rate of 100 % is drawn inside the chart, not on its top edge.
    broken = html[html.index("t.py::test_broken") :]
    points = re.search(r'<polyline points="([^"]+)"', broken).group(1)
    assert all(float(p.split(",")[1]) >= 4 for p in points.split())
    assert "tenantfixtures replay" in html


def test_every_report_shows_last_failure_commit_and_replay(tmp_path, valid_report):
    db = tmp_path / "h.db"
    _fill(db)
    data = valid_report(_report(db, "json", tmp_path))
    tests = {t["nodeid"]: t for t in data["tests"]}
    last = tests["t.py::test_broken"]["last_failure"]
    assert last["commit"] == "c2"
    assert last["run_id"] == "r5"
    assert last["message"].startswith("E   AssertionError")
    assert SECRET not in last["message"]
    assert last["replay"] == f"tenantfixtures replay --history={db} --run=r5 t.py::test_broken"
    assert tests["t.py::test_stable"]["last_failure"] is None
    assert tests["t.py::test_victim"]["p_value"] == 0.004
    assert data["counts"]["broken"] == 1
    assert [p["day"] for p in data["trend"]] == ["1970-01-01"]
    md = _report(db, "md", tmp_path)
    assert f"Replay: `tenantfixtures replay --history={db} --run=r5 t.py::test_broken`" in md
    assert "commit `c2`" in md
    junit = ET.fromstring(_report(db, "junit", tmp_path)).find("testsuite")
    cases = {c.get("name"): c for c in junit.iter("testcase")}
    assert "replay: tenantfixtures replay" in cases["test_broken"].find("failure").text
    assert cases["test_broken"].get("file") == "t.py"  # the file path, not the node id
    assert cases["test_broken"].get("classname") == "t"


def test_secret_words_in_test_ids_keep_every_json_key(tmp_path, valid_report):
    key = "sk-or-v1-0123456789abcdef0123456789abcdef"
    flaky = ["passed", "failed"] * 3
    db = tmp_path / "h.db"
    _fill(
        db,
        {
            "t.py::test_get_settings_no_api_key": flaky,
            "t.py::test_jwt_token": flaky,
            f"t.py::test_x[{key}]": flaky,
        },
    )
    data = valid_report(_report(db, "json", tmp_path))  # additionalProperties: false
    names = {t["nodeid"]: t["classification"] for t in data["tests"]}
    assert names["t.py::test_get_settings_no_api_key"] == "flaky"
    assert names["t.py::test_jwt_token"] == "flaky"
    for fmt in ("json", "md", "html", "junit"):
        text = _report(db, fmt, tmp_path)
        assert key not in text, fmt
        assert "0123456789abcdef" not in text, fmt


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("{'authorization': 'Bearer abcdefghijkl'}", "abcdefghijkl"),
        ('{"api_key": "abc123secretvalue"}', "abc123secretvalue"),
        ("OpenAI(apiKey=xyz987654321)", "xyz987654321"),
        ("key was sk-or-v1-0123456789abcdef", "0123456789abcdef"),
        ("x-api-key: 0f0f0f0f0f0f", "0f0f0f0f0f0f"),
    ],
)
def test_redaction_patterns(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned
    assert MARK in cleaned
