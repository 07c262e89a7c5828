"""``tenantfixtures nightly`` end to end on a small suite whose truth is known."""

import json
import random
import re
import subprocess
import sys

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
