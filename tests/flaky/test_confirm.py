"""Confirmation logic against a simulated suite: culprits only with 99 % evidence, all of them."""

import random

import pytest

from tenantfixtures.flaky import confirm as confirm_module
from tenantfixtures.flaky.confirm import Rounds, confirm
from tenantfixtures.flaky.models import Attempt, Classification, Outcome
from tenantfixtures.flaky.runner import Probe, ProbeResult
from tenantfixtures.flaky.stats import ALPHA, Interval, order_pvalue, plan

TESTS = [f"t.py::test_{i:02d}" for i in range(30)]
VICTIM, P1, P2 = "t.py::test_victim", "t.py::test_00", "t.py::test_01"
BRITTLE, SETTER = "t.py::test_brittle", "t.py::test_02"
FLAKE, BROKEN = "t.py::test_flake", "t.py::test_broken"
SUITE = [*TESTS, VICTIM, BRITTLE, FLAKE, BROKEN]


class Simulated:
    """One process runs tests in order; the victim fails after either polluter, the brittle
    test passes only after the setter, the flake fails half the time, broken always."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.sessions = 0
        self.batches: list[int] = []

    def outcomes(self, order: list[str]) -> dict[str, bool]:
        seen: set[str] = set()
        failed = {}
        for nodeid in order:
            if nodeid == VICTIM:
                failed[nodeid] = bool(seen & {P1, P2})
            elif nodeid == BRITTLE:
                failed[nodeid] = SETTER not in seen
            elif nodeid == FLAKE:
                failed[nodeid] = self.rng.random() < 0.5
            else:
                failed[nodeid] = nodeid == BROKEN
            seen.add(nodeid)
        return failed

    def attempts(self, run_id: str, order: list[str]) -> list[Attempt]:
        failed = self.outcomes(order)
        return [
            Attempt(
                run_id, i, nodeid, 0, Outcome.FAILED if failed[nodeid] else Outcome.PASSED,
                float(i), float(i) + 0.5, position=i,
            )
            for i, nodeid in enumerate(order)
        ]  # fmt: skip

    def run(self, probes: list[Probe]) -> list[ProbeResult]:
        self.sessions += 1
        self.batches.append(len(probes))
        results = []
        for probe in probes:
            assert not probe.parallel
            found = {a.nodeid: a for a in self.attempts("probe", list(probe.tests))}
            results.append(ProbeResult(found))
        return results


def _rounds(sim: Simulated, count: int) -> Rounds:
    attempts = []
    for index in range(count):
        order = list(SUITE)
        sim.rng.shuffle(order)
        attempts += sim.attempts(f"r{index}", order)
    return Rounds(attempts, set())


@pytest.mark.parametrize("seed", range(8))
def test_every_polluter_named_and_no_culprit_without_evidence(seed):
    sim = Simulated(seed)
    rounds = _rounds(sim, 10)
    suspects = sorted({a.nodeid for a in rounds.attempts if a.failed})
    found = {f.nodeid: f for f in confirm(rounds, suspects, sim, lambda line: None)}  # type: ignore[arg-type]
    assert found[BROKEN].classification is Classification.BROKEN
    assert found[BROKEN].culprits == ()
    if FLAKE in found:
        assert found[FLAKE].classification is Classification.FLAKY
        assert found[FLAKE].culprits == ()
    victim = found[VICTIM]
    assert victim.classification is Classification.ORDER_DEPENDENT, victim.evidence
    assert set(victim.culprits) == {P1, P2}, victim.evidence
    assert victim.p_value is not None
    assert victim.p_value <= ALPHA
    assert "p = " in victim.evidence
    brittle = found[BRITTLE]
    assert brittle.classification is Classification.ORDER_DEPENDENT, brittle.evidence
    assert brittle.culprits == (SETTER,)
    assert max(sim.batches) > 1  # independent probes shared sessions


def test_runs_are_chosen_from_the_observed_rate():
    rate = Interval.observed(5, 10)
    alone, pairs = plan(lambda a, b: order_pvalue(rate, a, b, victim=True), 1)
    assert order_pvalue(rate, alone, pairs, victim=True) <= ALPHA
    assert order_pvalue(rate, alone, pairs - 1, victim=True) > ALPHA
    # "Two coin flips" (2/2 pair failures after 2 alone passes) is no evidence at p = 0.5.
    assert order_pvalue(rate, 2, 2, victim=True) > 0.05
    rare = Interval.observed(1, 10)
    assert sum(plan(lambda a, b: order_pvalue(rare, a, b, victim=True), 1)) < alone + pairs


def test_budget_ends_with_unconfirmed_best_verdicts(monkeypatch):
    sim = Simulated(3)
    rounds = _rounds(sim, 10)
    suspects = sorted({a.nodeid for a in rounds.attempts if a.failed})
    clock = iter(range(1000))
    monkeypatch.setattr(confirm_module.time, "monotonic", lambda: next(clock))
    found = confirm(rounds, suspects, sim, lambda line: None, deadline=2)  # type: ignore[arg-type]
    assert {f.nodeid for f in found} == set(suspects)
    unconfirmed = [f for f in found if not f.confirmed]
    assert unconfirmed
    assert all(f.culprits == () for f in unconfirmed)
    assert all("--max-minutes reached" in f.evidence for f in unconfirmed)


def test_colliding_pair_is_confirmed_from_a_low_observed_rate():
    """Two tests that break each other only side by side, seen failing once in four rounds:
    the co-runs planned from that rate reach 99 % and name each as the other's partner, while
    a test merely running beside them is not named."""
    e, f, other = "e.py::test_e", "f.py::test_f", "o.py::test_other"

    def attempt(run_id: str, nodeid: str, worker: str | None, start: float, failed: bool):
        outcome = Outcome.FAILED if failed else Outcome.PASSED
        return Attempt(run_id, 0, nodeid, 0, outcome, start, start + 1.0, worker=worker)

    attempts = []
    for run_id in ("serial0", "serial3"):
        attempts += [attempt(run_id, n, None, float(i), False) for i, n in enumerate((e, f))]
    attempts += [attempt("par1", e, "gw0", 0.0, True), attempt("par1", f, "gw1", 0.1, True)]
    attempts += [attempt("par1", other, "gw1", 1.2, False)]
    attempts += [attempt("par2", e, "gw0", 0.0, False), attempt("par2", f, "gw0", 1.0, False)]
    rounds = Rounds(attempts, {"par1", "par2"})

    class Collisions:
        def run(self, probes: list[Probe]) -> list[ProbeResult]:
            results = []
            for probe in probes:
                both = probe.parallel and set(probe.tests) == {e, f}
                found = {
                    n: attempt("probe", n, "gw0" if probe.parallel else None, 0.0, both)
                    for n in probe.tests
                }
                results.append(ProbeResult(found))
            return results

    found = {v.nodeid: v for v in confirm(rounds, [e, f], Collisions(), lambda line: None)}  # type: ignore[arg-type]
    for mine, partner in ((e, f), (f, e)):
        verdict = found[mine]
        assert verdict.classification is Classification.PARALLEL_ONLY, verdict.evidence
        assert verdict.culprits == (partner,)
        assert verdict.p_value is not None
        assert verdict.p_value <= ALPHA
        assert "p = " in verdict.evidence
