"""Flaky-detector benchmark: accuracy on a synthetic suite, recording overhead, report speed.

    python benchmarks/bench_flaky.py accuracy [--rounds 10]   # nightly vs ground truth
    python benchmarks/bench_flaky.py overhead [--tests 3000]  # recording on vs off
    python benchmarks/bench_flaky.py report [--attempts 1000000]
    python benchmarks/bench_flaky.py all

Goals: precision >= 0.95 and recall >= 0.9 per class at 10 rounds, culprits >= 0.9;
recording <= 0.2 ms per attempt; report over 1,000,000 attempts <= 3 s.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import sqlalchemy as sa
from flaky_suite import generate

from tenantfixtures.flaky.report import build_report, to_json
from tenantfixtures.flaky.store import Store, attempts, runs

CLASSES = ("stable", "flaky", "broken", "order-dependent", "parallel-only")
CLI = [sys.executable, "-c", "import sys; from tenantfixtures.cli import main; sys.exit(main())"]


def accuracy(rounds: int, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        suite = Path(tmp) / "suite"
        truth = generate(suite)
        started = time.perf_counter()
        command = [*CLI, "nightly", f"--rounds={rounds}", f"--seed={seed}", "--history=h.db"]
        command += ["--format=json", "--output=report.json", "--", "-p", "no:cacheprovider"]
        subprocess.run(command, cwd=suite, check=True)
        elapsed = time.perf_counter() - started
        found = {t["nodeid"]: t for t in json.loads((suite / "report.json").read_text())["tests"]}
    print(f"\naccuracy: {len(truth)} tests, {rounds} rounds, seed {seed}, {elapsed:.0f} s")
    print(f"{'class':<16}{'truth':>6}{'found':>6}{'precision':>11}{'recall':>8}")
    for cls in CLASSES:
        expected = {n for n, t in truth.items() if t["class"] == cls}
        predicted = {n for n, t in found.items() if t["classification"] == cls}
        hits = len(expected & predicted)
        precision = hits / len(predicted) if predicted else 1.0
        recall = hits / len(expected) if expected else 1.0
        print(f"{cls:<16}{len(expected):>6}{len(predicted):>6}{precision:>11.2f}{recall:>8.2f}")
    by_rate: Counter[float] = Counter()
    for nodeid, t in truth.items():
        if t["class"] == "flaky" and found[nodeid]["classification"] == "flaky":
            by_rate[t["p"]] += 1
    rates = sorted({t["p"] for t in truth.values() if t["class"] == "flaky"})
    per = sum(1 for t in truth.values() if t.get("p") == rates[0])
    print("flaky recall by p: " + ", ".join(f"p={p}: {by_rate[p]}/{per}" for p in rates))
    expected_one = [
        f"p={p}: {1 - (1 - p) ** rounds:.2f}" for p in rates
    ]  # a flake is only seen if it fails at least once
    print("  (ceiling: P(at least one failure in the rounds) " + ", ".join(expected_one) + ")")
    with_culprit = [n for n, t in truth.items() if "culprit" in t]
    named = [n for n in with_culprit if found[n]["culprits"] == [truth[n]["culprit"]]]
    print(
        f"culprit accuracy: {len(named)}/{len(with_culprit)} = {len(named) / len(with_culprit):.2f}"
    )
    for nodeid in sorted(truth):
        if found[nodeid]["classification"] != truth[nodeid]["class"]:
            got = found[nodeid]
            print(
                f"  miss {nodeid}: {truth[nodeid]['class']} -> {got['classification']}: "
                f"{got['evidence']}"
            )


def _timed_run(suite: Path, extra: list[str]) -> float:
    command = [sys.executable, "-m", "pytest", "-p", "tenantfixtures", "-q", "-p", "no:randomly"]
    command += ["-p", "no:cacheprovider", *extra]
    started = time.perf_counter()
    subprocess.run(command, cwd=suite, check=True, capture_output=True)
    return time.perf_counter() - started


def overhead(tests: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        suite = Path(tmp)
        (suite / "test_many.py").write_text(
            f"import pytest\n\n\n@pytest.mark.parametrize('i', range({tests}))\n"
            "def test_many(i):\n    assert i >= 0\n"
        )
        off, on = [], []
        for round_ in range(repeats):
            off.append(_timed_run(suite, []))
            on.append(_timed_run(suite, [f"--tf-history={suite / f'h{round_}.db'}"]))
        stored = Store(str(suite / "h0.db"))
        with stored.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(attempts)).scalar()
        stored.close()
    best_off, best_on = min(off), min(on)
    per = (best_on - best_off) / tests * 1000
    print(f"\noverhead: {tests} tests, best of {repeats} runs each")
    print(f"{'recording off':<16}{best_off:8.3f} s")
    print(f"{'recording on':<16}{best_on:8.3f} s   ratio {best_on / best_off:.3f}")
    print(f"per attempt: {per:.3f} ms (goal <= 0.2 ms); rows stored: {count}")


def report_speed(total: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        store = Store(str(Path(tmp) / "big.db"))
        rng = random.Random(7)
        tests = [f"tests/test_mod{i // 20}.py::test_case_{i}" for i in range(2000)]
        rates = {n: (0.3 if i % 50 == 0 else 0.0) for i, n in enumerate(tests)}
        per_run = len(tests)
        started = time.perf_counter()
        with store.engine.begin() as conn:
            for run in range(total // per_run):
                run_id = f"run{run}"
                conn.execute(
                    runs.insert().values(
                        run_id=run_id, started_at=run * 3600.0, commit="c1", kind="pytest"
                    )
                )
                rows: list[dict[str, Any]] = [
                    {
                        "run_id": run_id,
                        "seq": i,
                        "nodeid": n,
                        "attempt": 0,
                        "phase": "call",
                        "outcome": "failed" if rng.random() < rates[n] else "passed",
                        "duration": 0.01,
                        "worker": None,
                        "position": i,
                        "seed": None,
                        "started_at": run * 3600.0 + i,
                        "stopped_at": run * 3600.0 + i + 0.01,
                        "message": None,
                    }
                    for i, n in enumerate(tests)
                ]
                conn.execute(attempts.insert(), rows)
        filled = time.perf_counter() - started
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            text = to_json(build_report(store))
            timings.append(time.perf_counter() - started)
        store.close()
    flaky = sum(t["classification"] == "flaky" for t in json.loads(text)["tests"])
    print(f"\nreport: {total} attempts, {len(tests)} tests (store filled in {filled:.0f} s)")
    print(
        f"json report: best {min(timings):.2f} s, worst {max(timings):.2f} s (goal <= 3 s); "
        f"{flaky} flaky found of {sum(1 for r in rates.values() if r)} planted"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("what", choices=("accuracy", "overhead", "report", "all"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--seed", type=int, default=int(os.environ.get("TF_BENCH_SEED", "20260101"))
    )
    parser.add_argument("--tests", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.what in ("overhead", "all"):
        overhead(args.tests, args.repeats)
    if args.what in ("report", "all"):
        report_speed(args.attempts)
    if args.what in ("accuracy", "all"):
        accuracy(args.rounds, args.seed)


if __name__ == "__main__":
    main()
