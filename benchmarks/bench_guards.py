"""What the guards cost: the same suites with ``--tf-guard=off`` and ``fail``, side by side.

    .venv/bin/python benchmarks/bench_guards.py [--rounds 5]

Two suites, each in a fresh pytest process per round (the fastest round counts, to damp noise from
a shared machine): 200 trivial tests (the per-test cost of the hooks), and one test making 100
requests through FastAPI's TestClient (ASGI in-process: the socket wrappers are never on its
path, but the event loop's self-pipe and anyio's portal thread are). Times cover the test loop
only, so interpreter start-up and collection are not counted.

Then the example app's whole suite (wall time of the pytest process, both guards: network and
sandbox escape), and the per-query cost of the statement listener behind ``tenancy.queries``
and ``tenancy.only`` (10,000 queries through an engine whose connections are sandbox-routed,
with the listener vs without).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SUITES = {
    "200 trivial tests": (
        200,
        """
        import pytest

        @pytest.mark.parametrize("n", range(200))
        def test_trivial(n):
            assert n >= 0
        """,
    ),
    "1 test, 100 ASGI requests": (
        1,
        """
        from fastapi import FastAPI
        from fastapi.testclient import TestClient

        app = FastAPI()

        @app.get("/items/{n}")
        async def item(n: int):
            return {"n": n}

        def test_hundred_requests():
            with TestClient(app) as client:
                for n in range(100):
                    assert client.get(f"/items/{n}").json() == {"n": n}
        """,
    ),
}
MODES = ("off", "fail")
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "tenantfixtures", "-p", "no:randomly"]
# pytest prints its session time to 10 ms; this conftest measures the test loop precisely.
TIMER = """
import time

def pytest_runtestloop(session):
    session.config._bench_start = time.perf_counter()

def pytest_sessionfinish(session):
    elapsed = time.perf_counter() - session.config._bench_start
    (session.config.rootpath / "elapsed.txt").write_text(repr(elapsed))
"""


def session_seconds(directory: Path, mode: str) -> float:
    """One pytest run; the seconds its test loop took (setup, call, teardown of every test)."""
    completed = subprocess.run(
        [*PYTEST, f"--tf-guard={mode}", str(directory)],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        sys.exit(f"the {mode} run failed:\n{completed.stdout}\n{completed.stderr}")
    return float((directory / "elapsed.txt").read_text())


ROOT = Path(__file__).resolve().parent.parent


def example_suite_seconds(mode: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", f"--tf-guard={mode}"],
        cwd=ROOT / "examples",
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def per_query_microseconds(queries: int) -> tuple[float, float]:
    """Median µs per ``SELECT 1`` on a sandboxed tenant DB, with and without the listener."""
    from sqlalchemy import MetaData, create_engine, event, text
    from sqlalchemy.engine import Engine

    from tenantfixtures.sandbox.controller import SandboxController
    from tenantfixtures.topology import Topology

    controller = SandboxController()
    with tempfile.TemporaryDirectory() as tmp:
        controller.set_template_dir(Path(tmp) / "templates")
        controller.adopt(Topology(system=MetaData(), tenant=MetaData(), data_dir=Path(tmp)))
        sandbox = controller.begin_test()
        engine = create_engine(f"sqlite:///{tmp}/organizations/acme/tenant.db")
        listener = controller.router._on_statement

        def run() -> float:
            with engine.connect() as connection:
                started = time.perf_counter()
                for _ in range(queries):
                    connection.execute(text("SELECT 1"))
                return (time.perf_counter() - started) / queries * 1e6

        with_listener, without = [], []
        for _ in range(5):
            with_listener.append(run())
            event.remove(Engine, "before_cursor_execute", listener)
            without.append(run())
            event.listen(Engine, "before_cursor_execute", listener)
        assert len(sandbox.statements) >= queries, "the listener saw the queries"
        controller.end_test(sandbox)
        engine.dispose()
        controller.shutdown()
    return statistics.median(with_listener), statistics.median(without)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs per suite and mode")
    rounds = parser.parse_args().rounds
    print(f"{'suite':28} {'guard off':>10} {'guard fail':>11} {'ratio':>7} {'per test':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for index, (title, (tests, source)) in enumerate(SUITES.items()):
            directory = Path(tmp) / f"suite{index}"
            directory.mkdir()
            (directory / "test_bench.py").write_text(textwrap.dedent(source))
            (directory / "pytest.ini").write_text("[pytest]\n")
            (directory / "conftest.py").write_text(TIMER)
            best = {mode: float("inf") for mode in MODES}
            for _ in range(rounds):
                for mode in MODES:  # interleaved, so drift in machine load hits both alike
                    best[mode] = min(best[mode], session_seconds(directory, mode))
            off, on = best["off"], best["fail"]
            per_test_us = (on - off) / tests * 1e6
            print(f"{title:28} {off:9.4f}s {on:10.4f}s {on / off:6.2f}x {per_test_us:+8.0f}µs")
    best = {mode: float("inf") for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            best[mode] = min(best[mode], example_suite_seconds(mode))
    off, on = best["off"], best["fail"]
    print(
        f"{'example suite (wall)':28} {off:9.4f}s {on:10.4f}s {on / off:6.2f}x   (target <= 1.05x)"
    )
    listener, bare = per_query_microseconds(10_000)
    print(
        f"per query: {listener:.1f} µs with the statement listener vs {bare:.1f} µs without"
        f" ({listener - bare:+.1f} µs, {listener / bare:.2f}x)"
    )


if __name__ == "__main__":
    main()
