"""What merely installing tenantfixtures costs: ``pytest --co`` with the plugin vs without.

    .venv/bin/python benchmarks/bench_startup.py [--quick] [--pairs N]

The ``pytest11`` entry point loads the plugin into every project of the environment. This
generates a project of 500 trivial tests with no tenantfixtures configuration and runs
``pytest --co -q`` in it, in a fresh process each time, with the plugin (as installed) and with
``-p no:tenantfixtures``: paired runs, interleaved (the order alternates from pair to pair), so
drift in machine load hits both alike. It prints the median wall time, CPU time (user + system,
steadier than wall time on a busy machine) and peak RSS of each, and their ratios (target: time
<= 1.1x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES, TESTS_PER_MODULE = 10, 50
PYTEST = [sys.executable, "-m", "pytest", "--co", "-q"]
VARIANTS = {"with plugin": [], "without (-p no:tenantfixtures)": ["-p", "no:tenantfixtures"]}
TARGET = 1.1


def make_project(directory: Path) -> None:
    (directory / "pytest.ini").write_text("[pytest]\n")
    for module in range(MODULES):
        tests = "\n\n".join(
            f"def test_{n}():\n    assert {n} >= 0" for n in range(TESTS_PER_MODULE)
        )
        (directory / f"test_module_{module}.py").write_text(tests + "\n")


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)  # the entry point must load the plugin
    env.pop("PYTEST_ADDOPTS", None)
    return env


def run_once(directory: Path, extra: list[str]) -> tuple[float, float, int]:
    """One ``pytest --co`` process: its wall time and CPU time (s), and its peak RSS (KiB, this
    child alone: ``wait4`` reports one child's usage, ``RUSAGE_CHILDREN`` the maximum so far)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*PYTEST, *extra],
        cwd=directory,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"pytest {' '.join(extra)} exited with {process.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def check_setup(directory: Path) -> None:
    """The plugin is loaded by its entry point, and the project collects 500 tests."""
    versions = subprocess.run(
        [sys.executable, "-m", "pytest", "-VV"],
        cwd=directory,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if "tenantfixtures" not in versions.stdout + versions.stderr:
        sys.exit("tenantfixtures is not installed as a pytest plugin in this environment")
    collected = subprocess.run(
        PYTEST, cwd=directory, env=environment(), capture_output=True, text=True, check=False
    )
    expected = f"{MODULES * TESTS_PER_MODULE} tests collected"
    if expected not in collected.stdout:
        sys.exit(f"expected {expected!r}:\n{collected.stdout}\n{collected.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 pairs instead of 15")
    parser.add_argument("--pairs", type=int, help="number of paired runs (default 15)")
    args = parser.parse_args()
    pairs = args.pairs or (5 if args.quick else 15)
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    rss: dict[str, list[int]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_project(directory)
        check_setup(directory)
        run_once(directory, [])  # warm-up: bytecode caches, file system caches
        run_once(directory, ["-p", "no:tenantfixtures"])
        names = list(VARIANTS)
        for pair in range(pairs):
            for name in names if pair % 2 == 0 else reversed(names):
                elapsed, cpu_seconds, peak = run_once(directory, VARIANTS[name])
                seconds[name].append(elapsed)
                cpu[name].append(cpu_seconds)
                rss[name].append(peak)
    tests = MODULES * TESTS_PER_MODULE
    print(f"pytest --co -q on {tests} trivial tests, {pairs} interleaved pairs (medians)")
    print(f"{'':32} {'wall time':>10} {'CPU time':>10} {'peak RSS':>11}")
    for name in VARIANTS:
        wall_ms = statistics.median(seconds[name]) * 1000
        cpu_ms = statistics.median(cpu[name]) * 1000
        rss_mib = statistics.median(rss[name]) / 1024
        print(f"{name:32} {wall_ms:8.0f}ms {cpu_ms:8.0f}ms {rss_mib:8.1f}MiB")
    wall, cpu_ratio, rss_ratio = (ratio(samples) for samples in (seconds, cpu, rss))
    print(f"{'ratio (medians)':32} {wall:9.3f}x {cpu_ratio:9.3f}x {rss_ratio:10.3f}x")
    paired = statistics.median(a / b for a, b in zip(*seconds.values(), strict=True))
    verdict = "ok" if wall <= TARGET else "over target"
    print(f"wall time: median of the paired ratios {paired:.3f}x; target <= {TARGET}x: {verdict}")


def ratio(samples: dict[str, list[float]] | dict[str, list[int]]) -> float:
    """The plugin's median over the median without it."""
    with_plugin, without = (statistics.median(values) for values in samples.values())
    return with_plugin / without


if __name__ == "__main__":
    main()
