"""``tenantfixtures nightly`` end to end on a small suite whose truth is known."""

import itertools
import json
import random
import re
import subprocess
import sys

from tenantfixtures.flaky.models import Attempt, Outcome
from tenantfixtures.flaky.nightly import (
    Meetings,
    RoundKind,
    met_side_by_side,
    plan,
    slow_first,
)
from tenantfixtures.flaky.store import Store

SUITE = {
    "test_a_polluter": "def test_polluter():\n    state.LEAKED.add('cache')\n",
    "test_b_victim": "def test_victim():\n    assert 'cache' not in state.LEAKED\n",
    "test_c_setter": "def test_setter():\n    state.LEAKED.add('config')\n",
    "test_d_brittle": "def test_brittle():\n    assert 'config' in state.LEAKED\n",
    # The exporters collide whenever they run side by side: each holds a marker file for 1 s
    # and fails if it saw the other's, so both fail together whatever the scheduling jitter.
    "test_e_export": (
        "def test_export_e():\n    mine, other = pathlib.Path('busy-e'), pathlib.Path('busy-f')\n"
        "    mine.touch()\n    seen, deadline = False, time.monotonic() + 1.0\n"
        "    try:\n        while time.monotonic() < deadline:\n"
        "            seen = seen or other.exists()\n            time.sleep(0.02)\n"
        "    finally:\n        mine.unlink()\n    assert not seen, 'export in use'\n"
    ),
    "test_f_export": (
        "def test_export_f():\n    mine, other = pathlib.Path('busy-f'), pathlib.Path('busy-e')\n"
        "    mine.touch()\n    seen, deadline = False, time.monotonic() + 1.0\n"
        "    try:\n        while time.monotonic() < deadline:\n"
        "            seen = seen or other.exists()\n            time.sleep(0.02)\n"
        "    finally:\n        mine.unlink()\n    assert not seen, 'export in use'\n"
    ),
    "test_g_broken": "def test_broken():\n    assert 1 == 2\n",
    "test_h_flaky": (  # fails every other session: deterministic stand-in for a random flake
        "def test_flaky():\n    p = pathlib.Path('count.txt')\n"
        "    n = int(p.read_text()) + 1 if p.exists() else 1\n    p.write_text(str(n))\n"
        "    assert n % 2 == 0\n"
    ),
    "test_i_stable": "def test_stable():\n    assert True\n",
}
HEADER = "import pathlib\nimport time\n\nimport state\n\n"
IDS = [f"{m}.py::{body.split('(')[0][4:]}" for m, body in SUITE.items()]


def _order(seed: int) -> list[str]:
    items = list(IDS)  # collection order: files alphabetically, one test each
    random.Random(seed).shuffle(items)
    return items


def _seed() -> int:
    """A base seed whose rounds expose each planted problem (the shuffle is our own, so known).

    Round 0 (serial): polluter before victim, setter before brittle; round 3 (serial): brittle
    before setter; round 1 (-n 2): the exporters in different initial xdist chunks.
    """
    for seed in range(10_000):
        first, second, last = _order(seed), _order(seed + 1), _order(seed + 3)
        pos = {n.split("::")[1]: i for i, n in enumerate(first)}
        end = {n.split("::")[1]: i for i, n in enumerate(last)}
        chunk = {n.split("::")[1]: i // 2 for i, n in enumerate(second[:4])}
        if (
            pos["test_polluter"] < pos["test_victim"]
            and pos["test_setter"] < pos["test_brittle"]
            and end["test_brittle"] < end["test_setter"]
            and {chunk.get("test_export_e"), chunk.get("test_export_f")} == {0, 1}
        ):
            return seed
    raise AssertionError("no seed found")


def _cli(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-c",
        "import sys; from tenantfixtures.cli import main; sys.exit(main())",
    ]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_nightly_classifies_and_names_culprits(pytester):
    pytester.makepyfile(state="LEAKED = set()\n", **{m: HEADER + body for m, body in SUITE.items()})
    pytester.makeini("[pytest]\npythonpath = .\n")
    done = _cli(
        "nightly", "--rounds=4", f"--seed={_seed()}", "--history=h.db", "--format=json",
        "--output=report.json", "--fail-on-new-flakes", "--", "-p", "no:cacheprovider",
        cwd=pytester.path,
    )  # fmt: skip
    assert "round 1/4 (serial" in done.stderr, done.stderr
    assert "round 2/4 (-n 2" in done.stderr
    assert done.returncode == 1, done.stderr  # --fail-on-new-flakes: these flakes are new
    data = json.loads((pytester.path / "report.json").read_text())
    assert data["runs"] == 4
    found = {t["nodeid"]: (t["classification"], t["culprits"]) for t in data["tests"]}
    # Round 2 puts the exporters side by side, so both fail there and never serially; the
    # co-runs are planned from that rate to reach 99 % confidence, naming each as the other's
    # colliding partner (only the test's own failures count, so a 1/4 rate is enough).
    for mine, partner in (("e", "f"), ("f", "e")):
        nodeid = f"test_{mine}_export.py::test_export_{mine}"
        test = next(t for t in data["tests"] if t["nodeid"] == nodeid)
        assert found.pop(nodeid) == (
            "parallel-only",
            [f"test_{partner}_export.py::test_export_{partner}"],
        ), f"{test['evidence']}\n{done.stderr}"
        assert 0 < test["p_value"] <= 0.01, test["evidence"]
        assert "p = " in test["evidence"]
        # The control guard had runs to look at: its block lined up beside the test.
        assert re.search(r"passed ([1-9]\d*)/\1 beside test_", test["evidence"]), test["evidence"]
    assert found == {
        "test_a_polluter.py::test_polluter": ("stable", []),
        "test_b_victim.py::test_victim": ("order-dependent", ["test_a_polluter.py::test_polluter"]),
        "test_c_setter.py::test_setter": ("stable", []),
        "test_d_brittle.py::test_brittle": ("order-dependent", ["test_c_setter.py::test_setter"]),
        "test_g_broken.py::test_broken": ("broken", []),
        "test_h_flaky.py::test_flaky": ("flaky", []),
        "test_i_stable.py::test_stable": ("stable", []),
    }, json.dumps(data, indent=1)
    again = _cli("report", "--history=h.db", "--format=md", cwd=pytester.path)
    assert again.returncode == 0
    assert "state-setter test_c_setter.py::test_setter" in again.stdout


def test_nightly_exits_zero_whatever_the_tests_did_and_rejects_bad_args(pytester):
    pytester.makepyfile(test_x="def test_bad():\n    assert 0\n\ndef test_good():\n    pass\n")
    done = _cli("nightly", "--rounds=1", "--history=h.db", "--", "-q", cwd=pytester.path)
    assert done.returncode == 0, done.stderr
    assert "| `test_x.py::test_bad` | broken | 1/1 |" in done.stdout
    bad = _cli(
        "nightly", "--rounds=1", "--history=h.db", "--", "--no-such-option", cwd=pytester.path
    )
    assert bad.returncode == 2
    assert "tenantfixtures nightly: error: pytest exited with code 4" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_rounds_take_turns_serial_shuffled_and_slow_first():
    kinds = [p.kind for p in plan(10, seed=5)]
    serial, shuffled, slow = RoundKind.SERIAL, RoundKind.SHUFFLED, RoundKind.SLOW_FIRST
    assert kinds == [serial, shuffled, slow] * 3 + [serial]
    assert [p.seed for p in plan(3, seed=5)] == [5, 6, 7]


def test_slow_first_hands_the_slow_tests_to_different_workers_in_varying_order():
    durations = {f"t.py::test_quick_{i}": 0.01 for i in range(30)}
    slow = {f"t.py::test_slow_{i}": 0.1 + i / 10 for i in range(5)}
    orders = [slow_first(durations | slow, seed, workers=4) for seed in range(40)]
    for order in orders:
        assert sorted(order) == sorted(durations | slow)
        # xdist with --maxschedchunk=1 hands worker k positions 2k and 2k + 1 first.
        assert {order[0], order[2], order[4], order[6]} < set(slow), order[:8]
        assert set(slow) - {order[0], order[2], order[4], order[6]} <= {order[1]}
    assert len({tuple(order[:8]) for order in orders}) > 20  # partners differ night to night
    assert slow_first(durations | slow, 7, 4) == slow_first(durations | slow, 7, 4)
    same = slow_first(durations, 3, workers=2)  # nothing slow: a shuffle
    assert sorted(same) == sorted(durations)
    assert same != sorted(durations)
    assert sorted(slow_first({"a": 1.0, "b": 2.0}, 1, workers=2)) == ["a", "b"]  # too few to deal


def test_slow_first_rounds_put_every_two_slow_tests_side_by_side_in_three_rounds():
    """Six slow tests on four workers: each round's first wave (one test a worker) and second
    wave are built from the pairs not yet side by side, so three rounds cover all fifteen; a
    shuffle each round leaves some pair apart nearly always."""
    durations = {f"t.py::test_quick_{i}": 0.01 for i in range(30)}
    slow = [f"t.py::test_slow_{i}" for i in range(6)]
    durations |= dict.fromkeys(slow, 0.5)
    every_pair = {frozenset(pair) for pair in itertools.combinations(slow, 2)}
    for seed in range(20):
        met: dict[frozenset[str], Meetings] = {}
        for round_seed in range(seed, seed + 3):
            order = slow_first(durations, round_seed, workers=4, met=met)
            first_wave, second_wave = order[0:8:2], [order[1], order[3]]
            for wave in (first_wave, second_wave):
                for pair in map(frozenset, itertools.combinations(wave, 2)):
                    met[pair] = Meetings(met.get(pair, Meetings()).count + 1)
        assert met.keys() == every_pair, sorted(map(sorted, every_pair - met.keys()))


def test_the_pair_met_least_or_where_only_one_failed_meets_again_first():
    """Every two of six slow tests have met; beside each other a failed and b passed (in a
    race either may lose, and b needs a failure of its own to be confirmed): the next round's
    first wave puts them side by side again, whatever the seed; so it does when they met
    fewer times than every other pair."""
    durations = {f"t.py::test_quick_{i}": 0.01 for i in range(30)}
    slow = [f"t.py::test_slow_{i}" for i in range(6)]
    durations |= dict.fromkeys(slow, 0.5)
    a, b = slow[2], slow[4]
    met = {frozenset(pair): Meetings(1) for pair in itertools.combinations(slow, 2)}
    met[frozenset((a, b))] = Meetings(1, frozenset({a}))
    for seed in range(20):
        first_wave = slow_first(durations, seed, workers=4, met=met)[0:8:2]
        assert {a, b} <= set(first_wave), first_wave
    met[frozenset((a, b))] = Meetings(1, frozenset({a, b}))  # both failed: wanted like others
    waves = [slow_first(durations, seed, workers=4, met=met)[0:8:2] for seed in range(20)]
    assert not all({a, b} <= set(wave) for wave in waves)
    met = {pair: Meetings(2) for pair in met}
    met[frozenset((a, b))] = Meetings(1)  # side by side once, every other pair twice
    for seed in range(20):
        assert {a, b} <= set(slow_first(durations, seed, workers=4, met=met)[0:8:2])


def test_pairs_met_are_those_side_by_side_on_two_workers():
    def ran(run_id, nodeid, worker, start, stop, outcome=Outcome.PASSED):
        return Attempt(run_id, 0, nodeid, 0, outcome, start, stop, worker=worker)

    attempts = [
        ran("r1", "a", "gw0", 0.0, 1.0),
        ran("r1", "b", "gw1", 0.2, 1.2, Outcome.FAILED),  # side by side with a, and failed
        ran("r1", "c", "gw0", 1.0, 2.0),  # after a, on its worker
        ran("r1", "d", "gw1", 1.9, 2.9),  # beside c for a tenth of its time: no
        ran("r2", "c", None, 0.0, 1.0),  # serial
        ran("r2", "d", None, 0.0, 1.0),
        ran("r3", "e", "gw2", 0.0, 1.0),  # not among the slow tests asked about
        ran("r3", "a", "gw3", 0.0, 1.0),
    ]
    attempts += [ran("r4", "b", "gw0", 0.0, 1.0), ran("r4", "a", "gw1", 0.0, 1.0)]
    assert met_side_by_side(attempts, {"a", "b", "c", "d"}) == {
        frozenset(("a", "b")): Meetings(2, frozenset({"b"}))
    }


def test_slow_first_round_runs_the_two_slow_tests_side_by_side(pytester, read_runs):
    """Two slow tests among many quick ones: a shuffled parallel round seldom overlaps them;
    the slow-first round does, every night."""
    slow = "def test_slow_{0}():\n    time.sleep(0.4)\n"
    quick = "".join(f"def test_quick_{i}():\n    pass\n\n" for i in range(30))
    pytester.makepyfile(
        test_a="import time\n\n" + slow.format("a"),
        test_m="import time\n\n" + quick,
        test_z="import time\n\n" + slow.format("z"),
    )
    done = _cli("nightly", "--rounds=3", "--seed=11", "--history=h.db", cwd=pytester.path)
    assert done.returncode == 0, done.stderr
    assert "round 3/3 (-n 4, slow tests first, seed 13)" in done.stderr, done.stderr
    (slow_first_run,) = [r for r in read_runs(pytester.path / "h.db") if "slow" in r["kind"]]
    store = Store(str(pytester.path / "h.db"))
    try:
        ran = {a.nodeid: a for a in store.attempts_of([slow_first_run["run_id"]])}
    finally:
        store.close()
    assert len(ran) == 32
    assert len({a.worker for a in ran.values()}) == 4
    a, z = ran["test_a.py::test_slow_a"], ran["test_z.py::test_slow_z"]
    assert a.worker != z.worker
    assert min(a.stopped_at, z.stopped_at) - max(a.started_at, z.started_at) > 0.2, (a, z)
