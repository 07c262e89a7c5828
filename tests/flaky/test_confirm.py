"""Confirmation logic against a simulated suite: culprits only with 99 % evidence, all of them."""

import math
import random
import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from tenantfixtures.flaky import confirm as confirm_module
from tenantfixtures.flaky.confirm import Rounds, confirm
from tenantfixtures.flaky.models import Attempt, Classification, Finding, Outcome
from tenantfixtures.flaky.runner import Probe, ProbeResult
from tenantfixtures.flaky.stats import (
    ALPHA,
    Interval,
    collision_pvalue,
    only_parallel_pvalue,
    order_pvalue,
    plan,
)

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
        self.probes: list[Probe] = []

    def outcomes(self, order: list[str]) -> list[bool]:
        """Failed? for each test in ``order``, run one after the other in one process."""
        seen: set[str] = set()
        failed = []
        for nodeid in order:
            if nodeid == VICTIM:
                failed.append(bool(seen & {P1, P2}))
            elif nodeid == BRITTLE:
                failed.append(SETTER not in seen)
            elif nodeid == FLAKE:
                failed.append(self.rng.random() < 0.5)
            else:
                failed.append(nodeid == BROKEN)
            seen.add(nodeid)
        return failed

    def attempts(self, run_id: str, order: list[str]) -> list[Attempt]:
        outcomes = self.outcomes(order)
        return [
            Attempt(
                run_id, i, nodeid, 0, Outcome.FAILED if failed else Outcome.PASSED,
                float(i), float(i) + 0.5, position=i,
            )
            for i, (nodeid, failed) in enumerate(zip(order, outcomes, strict=True))
        ]  # fmt: skip

    def run(self, probes: list[Probe]) -> list[ProbeResult]:
        self.sessions += 1
        self.batches.append(len(probes))
        self.probes += probes
        results = []
        for probe in probes:
            assert not probe.parallel
            results.append(ProbeResult(tuple(self.attempts("probe", list(probe.tests)))))
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
    assert re.search(r"every other test ran before it|after the \d+ test", found[BROKEN].evidence)
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


class QuickRareFlake(Simulated):
    """Tests of 5 ms each; the flake fails one run in ten."""

    def outcomes(self, order: list[str]) -> list[bool]:
        return [
            nodeid == BROKEN or (nodeid == FLAKE and self.rng.random() < 0.1) for nodeid in order
        ]

    def attempts(self, run_id: str, order: list[str]) -> list[Attempt]:
        return [
            replace(a, started_at=a.position * 0.005, stopped_at=a.position * 0.005 + 0.004)
            for a in super().attempts(run_id, order)
        ]


@pytest.mark.parametrize("seed", range(10))
def test_a_quick_rare_flake_is_decided_in_the_screening_session(seed):
    """A 5 ms flake at p = 0.1 runs 50 times there (its 9 first alone runs would all pass 39 %
    of the time, and each probe after screening costs a session): one session for it."""
    sim = QuickRareFlake(seed)
    attempts = [*sim.attempts("r0", [FLAKE, BROKEN, *TESTS]), *sim.attempts("r1", [BROKEN, FLAKE])]
    attempts[0] = replace(attempts[0], outcome=Outcome.FAILED)  # the round it failed in
    rounds = Rounds(attempts, set())
    found = {f.nodeid: f for f in confirm(rounds, [BROKEN, FLAKE], sim, lambda line: None)}  # type: ignore[arg-type]
    assert found[FLAKE].classification is Classification.FLAKY
    assert "runs in a row in one process" in found[FLAKE].evidence, found[FLAKE].evidence
    assert sum(FLAKE in probe.tests for probe in sim.probes) == 1


@pytest.mark.parametrize("seed", range(5))
def test_a_test_failing_everywhere_until_its_setter_runs_first_is_not_broken(seed):
    """The brittle test's state-setter never ran before it in the rounds, so it failed all of
    them and all its screening runs: it runs once after the tests that never ran before it,
    passes there, and the setter is bisected from them and confirmed by pair runs."""
    sim = Simulated(seed)
    crashed = TESTS[-1]  # killed its worker in a round: it would end the session
    attempts = []
    for index in range(10):
        order = [t for t in SUITE if t not in (SETTER, crashed)]
        sim.rng.shuffle(order)
        order.insert(order.index(BRITTLE) + 1 + sim.rng.randrange(3), SETTER)
        order.insert(order.index(BRITTLE) + 1, crashed)  # never before it either
        attempts += sim.attempts(f"r{index}", order)
    rounds = Rounds(attempts, set(), crashed=frozenset({crashed}))
    assert all(a.failed for a in rounds.of(BRITTLE))
    suspects = sorted({a.nodeid for a in rounds.attempts if a.failed})
    found = {f.nodeid: f for f in confirm(rounds, suspects, sim, lambda line: None)}  # type: ignore[arg-type]
    (after_rest,) = [p for p in sim.probes if p.key == ("after the rest", BRITTLE)]
    assert SETTER in after_rest.tests
    assert crashed not in after_rest.tests
    brittle = found[BRITTLE]
    assert brittle.classification is Classification.ORDER_DEPENDENT, brittle.evidence
    assert brittle.culprits == (SETTER,)
    assert brittle.p_value is not None
    assert brittle.p_value <= ALPHA
    assert found[BROKEN].classification is Classification.BROKEN, found[BROKEN].evidence


def test_runs_are_chosen_from_the_observed_rate():
    rate = Interval.observed(5, 10)
    alone, pairs = plan(lambda a, b: order_pvalue(rate, a, b, victim=True), 1)
    assert order_pvalue(rate, alone, pairs, victim=True) <= ALPHA
    assert order_pvalue(rate, alone, pairs - 1, victim=True) > ALPHA
    # "Two coin flips" (2/2 pair failures after 2 alone passes) is no evidence at p = 0.5.
    assert order_pvalue(rate, 2, 2, victim=True) > 0.05
    rare = Interval.observed(1, 10)
    assert sum(plan(lambda a, b: order_pvalue(rare, a, b, victim=True), 1)) < alone + pairs


def test_thousands_of_runs_beside_a_short_test_are_counted():
    """A co-run beside a test of a few milliseconds counts thousands of side-by-side runs, whose
    binomial coefficients overflow a float: nightly died with OverflowError there."""
    rate = Interval.observed(1, 10)
    exact = max(
        (1 - p) ** 3 * sum(math.comb(12, k) * p**k * (1 - p) ** (12 - k) for k in range(4, 13))
        for p in rate.points()
    )
    assert collision_pvalue(rate, 3, 12, 4) == pytest.approx(exact, rel=1e-12)
    values = [collision_pvalue(rate, 5, 5000, failures) for failures in (100, 1500, 2500)]
    assert all(0.0 <= value <= 1.0 for value in values)
    assert values[0] > values[1] > values[2]
    assert values[2] < ALPHA  # failing half of 5000 runs beside it, above any rate in (2%, 40%)


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


E, F, OTHER = "e.py::test_e", "f.py::test_f", "o.py::test_other"


def _attempt(
    run_id: str, nodeid: str, worker: str | None, start: float, failed: bool, position: int = 0
) -> Attempt:
    outcome = Outcome.FAILED if failed else Outcome.PASSED
    return Attempt(
        run_id, 0, nodeid, 0, outcome, start, start + 1.0, worker=worker, position=position
    )


def _collision_rounds() -> Rounds:
    """Four rounds: two serial ones pass; e and f fail side by side once under xdist; the
    other test, never failing, ran beside e's passing attempt."""
    attempts = []
    for run_id in ("serial0", "serial3"):
        for i, nodeid in enumerate((E, F, OTHER)):
            attempts.append(_attempt(run_id, nodeid, None, float(i), False))
    attempts += [_attempt("par1", E, "gw0", 0.0, True), _attempt("par1", F, "gw1", 0.1, True)]
    attempts += [_attempt("par1", OTHER, "gw1", 1.2, False)]
    attempts += [_attempt("par2", E, "gw0", 0.0, False), _attempt("par2", F, "gw0", 1.0, False)]
    attempts += [_attempt("par2", OTHER, "gw1", 0.2, False)]
    return Rounds(attempts, {"par1", "par2"})


def _ten_rounds(ran: Callable[[str, bool], list[Attempt]]) -> Rounds:
    """Ten rounds, every third serial, the others under xdist: ``ran(run_id, serial)`` gives
    each round's attempts."""
    attempts = []
    parallel = set()
    for index in range(10):
        run_id, serial = f"r{index}", index % 3 == 0
        if not serial:
            parallel.add(run_id)
        attempts += ran(run_id, serial)
    return Rounds(attempts, parallel)


def _flake_rounds(rng: random.Random, rate: float) -> Rounds:
    """e is a flake at ``rate``; under xdist f runs beside it in about half of the rounds, so
    e's failures may fall beside f by chance."""

    def ran(run_id: str, serial: bool) -> list[Attempt]:
        beside = not serial and rng.random() < 0.5
        attempts = []
        for i, nodeid in enumerate((E, F, OTHER)):
            failed = nodeid == E and rng.random() < rate
            worker = None if serial else ("gw0" if nodeid == E else "gw1")
            start = 0.1 if beside and nodeid == F else float(i)
            attempts.append(_attempt(run_id, nodeid, worker, start, failed, i))
        return attempts

    return _ten_rounds(ran)


class SideBySide:
    """Probes as processes on a clock: every run takes 1 s, a co-run's two processes start
    together, and ``breaks(test, other)`` says whether ``test`` fails in a run overlapping one
    of ``other``."""

    def __init__(self, breaks, flake=None) -> None:
        self.breaks = breaks
        self.flake = flake or (lambda test: False)  # fails wherever it runs
        self.co_runs = 0
        self.probes: list[Probe] = []

    def _process(self, run_id: str, tests, beside=()) -> tuple[Attempt, ...]:
        runs = []
        for position, nodeid in enumerate(tests):
            start = float(position)
            others = [o for i, o in enumerate(beside) if i < start + 1.0 and start < i + 1.0]
            failed = self.flake(nodeid) or any(self.breaks(nodeid, other) for other in others)
            runs.append(_attempt(run_id, nodeid, None, start, failed, position))
        return tuple(runs)

    def run(self, probes: list[Probe]) -> list[ProbeResult]:
        results = []
        self.probes += probes
        for probe in probes:
            self.co_runs += probe.parallel
            mine = self._process("probe", probe.tests, probe.beside)
            results.append(ProbeResult(mine, self._process("beside", probe.beside, probe.tests)))
        return results


def _judged(world: SideBySide) -> dict[str, Finding]:
    found = confirm(_collision_rounds(), [E, F], world, lambda line: None)  # type: ignore[arg-type]
    return {finding.nodeid: finding for finding in found}


def test_colliding_pair_is_confirmed_from_a_low_observed_rate():
    """e and f break each other side by side, seen failing once in four rounds: the co-runs
    planned from that rate reach 99 % and name each as the other's partner; a control co-run
    beside a test that never failed passes. One co-run answers both: e beside the control,
    e and f side by side, the control beside f."""
    world = SideBySide(lambda test, other: {test, other} == {E, F})
    found = _judged(world)
    assert world.co_runs == 1
    for mine, partner in ((E, F), (F, E)):
        verdict = found[mine]
        assert verdict.classification is Classification.PARALLEL_ONLY, verdict.evidence
        assert verdict.culprits == (partner,)
        assert verdict.p_value is not None
        assert verdict.p_value <= ALPHA
        assert "p = " in verdict.evidence
        assert f"beside {OTHER}" in verdict.evidence


def test_passes_beside_the_control_count_against_a_flake_as_passes_alone():
    """Under the null hypothesis a run is a draw wherever it runs: e's runs beside the control
    are left out of the alone runs made up front, and its passes there count in the p-value
    (e is still named at 99 %)."""
    judge = confirm_module.Judge(E, _collision_rounds(), print)
    assert judge.alone_up_front < judge.first_alone
    world = SideBySide(lambda test, other: {test, other} == {E, F})
    verdict = _judged(world)[E]
    alone = sum(probe.tests.count(E) for probe in world.probes if not probe.parallel)
    assert alone < judge.first_alone
    assert verdict.culprits == (F,), verdict.evidence
    assert verdict.p_value is not None
    assert verdict.p_value <= ALPHA
    match = re.search(rf"passed (\d+)/\d+ alone.*passed (\d+)/\d+ beside {OTHER}", verdict.evidence)
    assert match, verdict.evidence
    assert int(match[1]) == alone
    assert int(match[1]) + int(match[2]) >= judge.first_alone


def test_one_sided_collision_names_the_partner_of_the_loser_only():
    """Only e loses the race, and only in half of the co-runs: the misses are allowed, e names
    f; f never fails beside e, so nothing confirms a partner for f."""
    coin = random.Random(5)
    world = SideBySide(lambda test, other: test == E and other == F and coin.random() < 0.5)
    found = _judged(world)
    assert found[E].classification is Classification.PARALLEL_ONLY, found[E].evidence
    assert found[E].culprits == (F,)
    assert found[E].p_value is not None
    assert found[E].p_value <= ALPHA
    assert found[F].culprits == (), found[F].evidence


def _fails_in_every_parallel_round() -> Rounds:
    """e passes the serial rounds and fails every one under xdist, with f beside it and the
    other test after it on its worker."""

    def ran(run_id: str, serial: bool) -> list[Attempt]:
        workers = (None, None, None) if serial else ("gw0", "gw1", "gw0")
        starts = (0.0, 1.0, 2.0) if serial else (0.0, 0.1, 1.0)
        placed = zip((E, F, OTHER), workers, starts, strict=True)
        return [
            _attempt(run_id, nodeid, worker, start, nodeid == E and not serial, position)
            for position, (nodeid, worker, start) in enumerate(placed)
        ]

    return _ten_rounds(ran)


def test_no_partner_named_when_the_test_breaks_beside_any_test():
    """e fails beside whatever runs at the same time: the control co-run shows it, and the
    partner the rounds suggested is not blamed. Its six failures in ten rounds, all six under
    xdist, are no chance: it breaks beside other tests in general."""
    world = SideBySide(lambda test, other: test == E)
    (verdict,) = confirm(_fails_in_every_parallel_round(), [E], world, lambda line: None)  # type: ignore[arg-type]
    assert verdict.classification is Classification.PARALLEL_ONLY, verdict.evidence
    assert verdict.culprits == ()
    assert "no partner named" in verdict.evidence
    assert "breaks beside other tests in general" in verdict.evidence
    assert re.search(rf"failed [1-9]\d*/\d+ runs beside {OTHER}", verdict.evidence)


class ControlOutOfStep(SideBySide):
    """The process beside runs the control at other times than this one's runs (a co-run's
    phases out of step): no run of the test overlaps it."""

    def run(self, probes: list[Probe]) -> list[ProbeResult]:
        results = super().run(probes)
        return [
            replace(
                result,
                beside=tuple(
                    replace(a, started_at=a.started_at + 1e3, stopped_at=a.stopped_at + 1e3)
                    if a.nodeid == OTHER
                    else a
                    for a in result.beside
                ),
            )
            for result in results
        ]


def test_no_partner_named_when_no_run_overlapped_the_control():
    """e fails every run of its co-run, as a test drawing its outcome once per process does,
    but no run of it overlapped the control: nothing in that process showed it passing, so the
    partner is not named, however small the p-value beside it."""
    world = ControlOutOfStep(lambda test, other: test == E)
    verdict = _judged(world)[E]
    assert verdict.culprits == (), verdict.evidence
    assert verdict.classification is Classification.FLAKY, verdict.evidence


class SecondProcessFails(SideBySide):
    """e draws its outcome once per process: it passes in every process but the second
    co-run's, where it fails every run."""

    def run(self, probes: list[Probe]) -> list[ProbeResult]:
        results = super().run(probes)
        for index, probe in enumerate(probes):
            if probe.parallel and self.co_runs == 2:
                failing = tuple(replace(a, outcome=Outcome.FAILED) for a in results[index].runs)
                results[index] = replace(results[index], runs=failing)
        return results


def test_every_co_run_holds_its_own_control():
    """e had two partners beside its failures. Its first co-run passes throughout; in the
    second its process fails every run, beside the second partner and beside the control,
    since each co-run has its own control block: no partner is named for a test that fails a
    whole process."""
    g = "g.py::test_g"

    def ran(run_id: str, serial: bool) -> list[Attempt]:
        failing = run_id in ("r1", "r2")
        workers = (None,) * 4 if serial else ("gw0", "gw1", "gw2", "gw0")
        starts = (0.0, 1.0, 2.0, 3.0) if serial else (0.0, 0.1, 0.2, 1.0)
        if not serial and not failing:
            starts = (0.0, 1.5, 1.5, 1.0)  # f and g beside its failures only
        placed = zip((E, F, g, OTHER), workers, starts, strict=True)
        return [
            _attempt(run_id, nodeid, worker, start, nodeid == E and failing, i)
            for i, (nodeid, worker, start) in enumerate(placed)
        ]

    world = SecondProcessFails(lambda test, other: False)
    (verdict,) = confirm(_ten_rounds(ran), [E], world, lambda line: None)  # type: ignore[arg-type]
    assert world.co_runs == 2
    co_runs = [probe for probe in world.probes if probe.parallel]
    assert all(OTHER in probe.beside for probe in co_runs)
    assert verdict.culprits == (), verdict.evidence
    assert verdict.classification is Classification.FLAKY, verdict.evidence


def test_no_failure_beside_a_partner_explains_nothing():
    """Six passes beside a partner are no reason to leave the next partner untried."""
    judge = confirm_module.Judge(E, _fails_in_every_parallel_round(), print)
    assert judge._alone_for([False] * 6, ALPHA) is None
    assert judge._alone_for([True] * 6, ALPHA) is not None


def test_failures_only_under_xdist_are_chance_unless_many():
    """Six of ten rounds under xdist: one failure lands there 60 % of the time; all of six
    failures once in 210 nights; more failures than parallel rounds never."""
    assert only_parallel_pvalue(1, 6, 10) == pytest.approx(0.6)
    assert only_parallel_pvalue(6, 6, 10) == pytest.approx(1 / 210)
    assert only_parallel_pvalue(5, 6, 10) > ALPHA > only_parallel_pvalue(6, 6, 10)
    assert only_parallel_pvalue(7, 6, 10) == 0.0


def test_failing_beside_the_control_after_one_failure_under_xdist_is_flaky():
    """e failed once in four rounds, under xdist, passes its alone runs and fails every run of
    its co-run, beside the control too: what a test drawing its outcome once per process does
    (one process passes, the other fails). One failure landing in a parallel round is no
    evidence: flaky, no partner."""
    world = SideBySide(lambda test, other: test == E)
    verdict = _judged(world)[E]
    assert verdict.classification is Classification.FLAKY, verdict.evidence
    assert verdict.culprits == ()
    assert "could be chance" in verdict.evidence


def test_the_partner_beside_a_failure_for_a_moment_comes_before_a_long_bystander():
    """Four workers: e's one failure had f beside it for a moment (f started as e was about to
    check its file) and a long test, and the long test was beside a pass of e as well. The
    partner is the one beside a larger share of failures than of passes, not the one beside
    them longest."""
    long_test = "t.py::test_long"
    attempts = [
        _attempt("par1", E, "gw0", 0.0, True),
        _attempt("par1", F, "gw1", 0.95, False),
        Attempt("par1", 0, long_test, 0, Outcome.PASSED, 0.0, 3.0, worker="gw2"),
        _attempt("par2", E, "gw0", 0.0, False),
        Attempt("par2", 0, long_test, 0, Outcome.PASSED, 0.0, 3.0, worker="gw1"),
        _attempt("par3", E, "gw0", 0.0, False),
        _attempt("par3", F, "gw0", 1.0, False),
    ]
    judge = confirm_module.Judge(E, Rounds(attempts, {"par1", "par2", "par3"}), print)
    assert judge.partners == [F, long_test]


def test_a_partner_failing_beside_the_failures_comes_before_a_bystander_as_often_there():
    """Four workers, slow tests started together: e's two failures had f and a long test
    beside them, each for the whole of e's run. f failed beside them too, and only ever under
    xdist (two tests breaking each other): f comes first."""
    long_test = "a.py::test_long"
    attempts = []
    for run_id in ("par1", "par2"):
        attempts += [_attempt(run_id, E, "gw0", 0.0, True), _attempt(run_id, F, "gw1", 0.0, True)]
        attempts.append(Attempt(run_id, 0, long_test, 0, Outcome.PASSED, 0.0, 3.0, worker="gw2"))
    attempts.append(_attempt("serial", F, None, 0.0, False))
    judge = confirm_module.Judge(E, Rounds(attempts, {"par1", "par2"}), print)
    assert judge.partners == [F, long_test]


def test_a_one_sided_race_partner_comes_before_quick_tests_beside_the_one_failure():
    """e and f each delete the other's file on the way out: whichever starts second fails,
    beside the other's pass. e failed once, with f, a quick test and a broken one beside it;
    f failed twice, beside e's passes, and the broken test beside one of them. f is e's first
    partner although it was beside e's passes too and the quick test never was; the broken
    test failing beside e's pass counts against it."""
    quick, broken = "q.py::test_q", "b.py::test_broken"
    attempts = [
        _attempt("par1", E, "gw0", 0.5, True),
        _attempt("par1", F, "gw1", 0.0, False),
        Attempt("par1", 0, quick, 0, Outcome.PASSED, 0.6, 0.605, worker="gw2"),
        _attempt("par1", broken, "gw3", 0.7, True),
        _attempt("par2", broken, "gw3", 0.2, True),
    ]
    for run_id in ("par2", "par3"):
        attempts += [_attempt(run_id, E, "gw0", 0.0, False), _attempt(run_id, F, "gw1", 0.5, True)]
    judge = confirm_module.Judge(E, Rounds(attempts, {"par1", "par2", "par3"}), print)
    assert judge.partners == [F, quick, broken]


def test_a_long_partner_beside_the_passes_too_comes_before_quick_bystanders():
    """A lock holder beside e's whole run when e failed, and beside its passes too but later
    in them (e checks the lock early): counted per attempt it is no suspect, and three quick
    tests that ran during the failure look worse; by the part of e's run it shared, it is the
    first suspect, and it is tried among the three partners."""
    holder = "h.py::test_holder"
    quick = [f"q.py::test_q{i}" for i in range(3)]
    attempts = [
        _attempt("par1", E, "gw0", 0.0, True),
        Attempt("par1", 0, holder, 0, Outcome.PASSED, 0.0, 2.0, worker="gw1"),
        *(
            Attempt("par1", 0, q, 0, Outcome.PASSED, 0.3, 0.305, worker=f"gw{i + 2}")
            for i, q in enumerate(quick)
        ),
    ]
    for run_id in ("par2", "par3"):
        attempts.append(_attempt(run_id, E, "gw0", 0.0, False))
        attempts.append(Attempt(run_id, 0, holder, 0, Outcome.PASSED, 0.7, 2.7, worker="gw1"))
    judge = confirm_module.Judge(E, Rounds(attempts, {"par1", "par2", "par3"}), print)
    assert len(judge.partners) == 3
    assert holder in judge.partners, judge.partners


def test_the_control_is_no_test_that_was_beside_a_failure():
    """Three tests were beside e's failure; the one beside its pass too is no partner, but
    could still be the cause: the control is a test beside none of e's failures."""
    g, h = "g.py::test_g", "h.py::test_h"
    attempts = [
        _attempt("par1", E, "gw0", 0.0, True),
        _attempt("par1", F, "gw1", 0.0, False),
        _attempt("par1", g, "gw2", 0.0, False),
        _attempt("par1", h, "gw3", 0.0, False),
        _attempt("par2", E, "gw0", 0.0, False),
        _attempt("par2", h, "gw1", 0.0, False),
        _attempt("par2", OTHER, "gw2", 0.5, False),
    ]
    judge = confirm_module.Judge(E, Rounds(attempts, {"par1", "par2"}), print)
    assert judge.partners == [F, g]
    assert judge.control == OTHER


def test_a_flake_at_half_gets_a_culprit_in_at_most_one_night_in_a_hundred():
    """The promise behind every culprit: over 300 simulated nights a coin-flip test (the kind
    that fakes culprits by chance) is blamed on another test at most at the 1 % level."""
    blamed = 0
    for seed in range(300):
        sim = Simulated(1000 + seed)
        rounds = _rounds(sim, 10)
        if not any(a.failed for a in rounds.of(FLAKE)):
            continue
        (verdict,) = confirm(rounds, [FLAKE], sim, lambda line: None)  # type: ignore[arg-type]
        blamed += bool(verdict.culprits)
    assert blamed <= 3, f"{blamed}/300 nights named a culprit for a flake"


class PerProcess(Simulated):
    """The same suite plus a test whose outcome is drawn once per process, as a test that
    depends on string hash order (PYTHONHASHSEED) or on randomness drawn at import: every run
    in one process agrees, so a session of repeats is one draw, not many."""

    def __init__(self, seed: int, rate: float) -> None:
        super().__init__(seed)
        self.rate = rate

    def outcomes(self, order: list[str]) -> list[bool]:
        drawn = self.rng.random() < self.rate
        plain = super().outcomes([n for n in order if n != PER_PROCESS])
        return [drawn if n == PER_PROCESS else plain.pop(0) for n in order]


PER_PROCESS = "t.py::test_hash_order"


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.7])
def test_a_flake_drawn_once_per_process_gets_a_culprit_in_at_most_one_night_in_a_hundred(rate):
    """Runs in one session are not independent draws for it: its alone session and a pair
    session are two coin flips, which without a control inside each session named a culprit
    "at p = 0.001" in about one night in five. Each pair session starts with an alone run of
    the test, which agrees with the rest of its process and so contradicts the culprit."""
    blamed = judged = 0
    for seed in range(300):
        sim = PerProcess(7000 + seed, rate)
        attempts = []
        for index in range(10):
            order = [*SUITE, PER_PROCESS]
            sim.rng.shuffle(order)
            attempts += sim.attempts(f"r{index}", order)
        rounds = Rounds(attempts, set())
        if not any(a.failed for a in rounds.of(PER_PROCESS)):
            continue
        (verdict,) = confirm(rounds, [PER_PROCESS], sim, lambda line: None)  # type: ignore[arg-type]
        judged += 1
        blamed += bool(verdict.culprits)
    assert judged >= 250
    assert blamed <= 3, f"{blamed}/{judged} nights named a culprit for a per-process flake"


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.3])
def test_a_flake_failing_only_under_xdist_gets_a_partner_in_at_most_one_night_in_a_hundred(rate):
    """The same promise for partners: a flake whose failures all fell in the xdist rounds,
    beside f more often than its passes did, is co-run beside f (looked at twice), and blamed
    on it at most at the 1 % level."""
    rng = random.Random(int(rate * 100))
    blamed = judged = co_runs = 0
    for _ in range(300):
        rounds = _flake_rounds(rng, rate)
        if rounds.fails_serially(E) or not any(a.failed for a in rounds.of(E)):
            continue
        world = SideBySide(
            lambda test, other: False, flake=lambda test: test == E and rng.random() < rate
        )
        (verdict,) = confirm(rounds, [E], world, lambda line: None)  # type: ignore[arg-type]
        judged += 1
        co_runs += world.co_runs
        blamed += bool(verdict.culprits)
    assert judged >= 5
    assert co_runs >= 5  # nights that reached the co-runs: the question was asked
    assert blamed <= 3, f"{blamed}/{judged} nights named a partner for a flake"


def test_bisection_finds_two_polluters_in_one_pass():
    """Every part that still breaks the victim is halved again, at once: two polluters in
    different halves of a 32-test prefix are both found in log2(32) steps, not twice that."""
    sim = Simulated(11)
    prefix = [*TESTS[2:16], P1, *TESTS[16:], P2, BRITTLE]  # P1 in the first half, P2 the second
    judge = confirm_module.Judge(VICTIM, _rounds(sim, 10), lambda line: None)
    search = judge._bisect(True, set(), [prefix])
    steps = 0
    request = next(search)
    while True:
        steps += 1
        try:
            request = search.send(tuple(sim.run(list(request))))
        except StopIteration as stop:
            found = stop.value
            break
    assert sorted(found) == [P1, P2]
    assert steps <= 5 + 1


class DrawnPerProcess(SideBySide):
    """Co-runs where e's outcome is drawn once per process, whatever runs beside it."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        super().__init__(lambda test, other: False, flake=lambda test: test == E and self.drawn)
        self.rng = rng
        self.rate = rate
        self.drawn = False

    def _process(self, run_id: str, tests, beside=()) -> tuple[Attempt, ...]:
        self.drawn = self.rng.random() < self.rate
        return super()._process(run_id, tests, beside)


@pytest.mark.parametrize("rate", [0.2, 0.3])
def test_a_flake_drawn_once_per_process_gets_no_partner_from_one_failing_co_run(rate):
    """Under xdist only by chance, such a test fails every run of a failing co-run: its first
    co-run puts the control block in the same process as the partner's, so it fails beside the
    control too and no partner is named (without it: about one night in ten)."""
    rng = random.Random(int(rate * 1000))
    blamed = judged = 0
    for _ in range(400):
        rounds = _flake_rounds(rng, rate)
        if rounds.fails_serially(E) or not any(a.failed for a in rounds.of(E)):
            continue
        (verdict,) = confirm(rounds, [E], DrawnPerProcess(rng, rate), lambda line: None)  # type: ignore[arg-type]
        judged += 1
        blamed += bool(verdict.culprits)
    assert judged >= 50
    assert blamed <= judged // 100, f"{blamed}/{judged} nights named a partner"


def test_candidates_tied_for_the_most_rounds_are_tried_at_once():
    """A test that happened to run before the victim in exactly the rounds where it failed
    looks as good as the polluter: both get their pair runs in one request, not one after
    the other, and only the polluter is named."""
    sim = Simulated(4)
    junk = TESTS[5]
    orders = [
        [junk, P1, VICTIM, *TESTS[10:14]],
        [P1, junk, VICTIM, *TESTS[14:18]],
        [VICTIM, junk, P1, *TESTS[10:14]],
        [*TESTS[14:18], VICTIM, P1, junk],
    ]
    rounds = Rounds([a for i, o in enumerate(orders) for a in sim.attempts(f"r{i}", o)], set())
    (verdict,) = confirm(rounds, [VICTIM], sim, lambda line: None)  # type: ignore[arg-type]
    assert verdict.culprits == (P1,), verdict.evidence
    assert sim.batches[1] == 2  # after the alone runs: both candidates' pair runs at once


class SkipsAfterSetter(Simulated):
    """The brittle test skips, rather than passes, once its setter has run."""

    def attempts(self, run_id: str, order: list[str]) -> list[Attempt]:
        return [
            replace(a, outcome=Outcome.SKIPPED)
            if a.nodeid == BRITTLE and SETTER in order[: a.position]
            else a
            for a in super().attempts(run_id, order)
        ]


def test_a_skip_after_the_tests_that_never_ran_before_it_is_no_pass():
    """The brittle check wants a run of the test's code that passed: skipping there says
    nothing of a state-setter, and the test stays broken."""
    sim = SkipsAfterSetter(0)
    attempts = []
    for index in range(10):
        order = [t for t in SUITE if t != SETTER]
        sim.rng.shuffle(order)
        attempts += sim.attempts(f"r{index}", [*order, SETTER])
    rounds = Rounds(attempts, set())
    found = {f.nodeid: f for f in confirm(rounds, [BRITTLE, BROKEN], sim, lambda line: None)}  # type: ignore[arg-type]
    assert found[BRITTLE].classification is Classification.BROKEN, found[BRITTLE].evidence
    assert found[BRITTLE].culprits == ()


def test_requests_touching_guarded_tests_run_by_themselves_but_alone_runs():
    """A co-run, or a pair session of a guarded test, runs by itself (a test colliding with the
    suspect beside it would fake a culprit), and first; alone runs of a guarded test share a
    batch of four sessions with probes of tests that are not guarded; a second request
    touching a guarded test, or one sharing a test with the batch, waits."""
    pending = {
        "x": (Probe(("x.py::test_x", "a.py::test_a"), key=("x",)),),
        "y": (Probe(("y.py::test_y", "a.py::test_a"), key=("y",)),),
        "z": (Probe(("z.py::test_z",), key=("z",)),),
        "e": (Probe((E,) * 3, (F,) * 3, key=("beside", E)),),
        "f": (Probe((F,) * 4, key=("alone", F, 0, 4)),),
        "g": (Probe(("g.py::test_g", E), key=("pair", "g.py::test_g", E, 3)),),
        "w": (Probe(("w.py::test_w",), key=("w",)),),
    }
    assert confirm_module._batch(pending, {E, F}) == ["e"]
    del pending["e"]
    assert confirm_module._batch(pending, {E, F}) == ["f", "x", "z", "w"]
    del pending["f"]
    assert confirm_module._batch(pending, {E, F}) == ["g"]
