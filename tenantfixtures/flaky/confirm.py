"""Confirms what the nightly rounds suggest, by targeted reruns (the iDFlakies/iPFlakies recipe).

- first, screening runs every suspect a few times in a row (a quick one up to 50 times, a
  quarter of a second in all), in two sessions at once (the parallel suspects and every test
  beside their failures in one, the rest in the other): failing some of its runs there: flaky;
  failing all of them and every round: broken, unless it passes after the tests that never ran
  before it (then its state-setter is among them); passing all of them: those are its first
  alone runs (under the null hypothesis each run is a draw wherever it runs);
- fails in every round and alone: the same;
- fails only under xdist, passes alone: co-run beside the tests that were beside a larger
  share of its failures than of its passes (two processes started together, as two workers),
  one partner at a time while failures are left unexplained, first for as many runs as a test
  failing every time needs, then once more for the misses of a one-sided collision; a partner
  is named when its failures beside it, against its passes alone, reject "a flake at its
  observed rate", and it passes beside a control test that never failed (else no partner:
  parallel-only if its failures, all under xdist, are beyond chance, else flaky; those passes
  count against a flake like passes alone); two tests that break each other share their
  first co-run;
- passes alone, fails in some orders: every test whose presence earlier in the same process
  matches its failures is a candidate polluter, run right before it (after one run alone in the
  same process); fails alone but passes in some orders: the same for the state-setter
  (order-dependent); a bisected failing prefix when the history names none;
- anything else, or evidence short of 99 % confidence (see :mod:`stats`): flaky, no culprit.

Each suspect's confirmation is a generator of requests (probes to run at once), so the driver
can stop each one early, run probes of different suspects at once (see ``_batch``: a co-run,
or any probe of a test beside a parallel suspect's failures other than alone runs, by itself),
and stop everything at a deadline with the best verdict so far. Repeated runs of one question
(alone, after one candidate, beside one partner) share a session: under the null hypothesis
each run is an independent draw wherever it runs, and a session start costs more than most
tests. Some tests draw once per process (string hash order, randomness drawn at import), so
every session that gives evidence for a culprit also holds its control (the alone run before
the pair runs, the control block before the partner's in every co-run): such a test agrees with
itself there and contradicts it.
"""

import functools
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from tenantfixtures.flaky.models import Attempt, Classification, Finding
from tenantfixtures.flaky.runner import Probe, Prober, ProbeResult
from tenantfixtures.flaky.stats import (
    ALPHA,
    MAX_RUNS,
    MIN_ALONE,
    Interval,
    collision_pvalue,
    fewest_alone,
    only_parallel_pvalue,
    order_pvalue,
    plan,
)

MAX_CANDIDATES = 8  # candidates tried per test: the Bonferroni family
MAX_FROM_HISTORY = 3  # of which taken from the recorded orders; the rest found by bisection
MAX_PARTNERS = 3  # co-run partners tried per test: the tests beside a failure on 4 workers
LOOKS = 2  # co-runs per partner at most; Bonferroni counts each look as a test of its own
MAX_BATCH = 4  # serial probes run at once
SCREEN_SECONDS = 0.25  # screening time a quick suspect may take
MAX_SCREEN_RUNS = 50  # a flake at p = 0.1 passes 50 runs in a row 0.5 % of the time
MAX_COVER = 10_000  # repeats of a short test spanning a longer one's runs (time bounds the block)

Request = tuple[Probe, ...]  # probes run at once
Answer = tuple[ProbeResult, ...]
Judgement = Generator[Request, Answer, Finding]


@dataclass
class Rounds:
    """The rounds' first attempts, indexed for the questions confirmation asks."""

    attempts: list[Attempt]
    parallel_runs: set[str]
    crashed: frozenset[str] = frozenset()  # killed its process in some round: never a prefix
    _by_test: dict[str, list[Attempt]] = field(default_factory=dict, init=False)
    _by_process: dict[tuple[str, str | None], list[Attempt]] = field(
        default_factory=dict, init=False
    )
    _pitches: dict[str, list[float]] = field(default_factory=dict, init=False)
    _failures: set[tuple[str, str]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self._failures = {(a.run_id, a.nodeid) for a in self.attempts if a.failed}
        for attempt in self.attempts:
            self._by_test.setdefault(attempt.nodeid, []).append(attempt)
            self._by_process.setdefault((attempt.run_id, attempt.worker), []).append(attempt)
        for same in self._by_process.values():
            same.sort(key=lambda a: a.position)
            for attempt, following in zip(same, [*same[1:], None], strict=True):
                until = following.started_at if following is not None else attempt.stopped_at
                self._pitches.setdefault(attempt.nodeid, []).append(until - attempt.started_at)

    def of(self, nodeid: str) -> list[Attempt]:
        return self._by_test.get(nodeid, [])

    def rate(self, nodeid: str) -> Interval:
        history = self.of(nodeid)
        return Interval.observed(sum(a.failed for a in history), len(history))

    def prefix(self, attempt: Attempt) -> list[str]:
        """Tests that ran before ``attempt`` in the same process (worker) of the same run."""
        same = self._by_process[(attempt.run_id, attempt.worker)]
        return [a.nodeid for a in same if a.position < attempt.position]

    def overlap(self, attempt: Attempt) -> dict[str, float]:
        """Seconds each test on another worker ran while ``attempt`` ran."""
        return {
            a.nodeid: min(a.stopped_at, attempt.stopped_at) - max(a.started_at, attempt.started_at)
            for (run_id, worker), same in self._by_process.items()
            if run_id == attempt.run_id and worker != attempt.worker
            for a in same
            if a.started_at < attempt.stopped_at and attempt.started_at < a.stopped_at
        }

    def pitch(self, nodeid: str) -> float:
        """The median time from the test's start to the next start in its process: its own
        time plus pytest's between tests, what each repeat of it adds to a session."""
        times = sorted(self._pitches.get(nodeid, []))
        return times[len(times) // 2] if times else 0.0

    def failed(self, run_id: str, nodeid: str) -> bool:
        return (run_id, nodeid) in self._failures

    def tests(self) -> list[str]:
        return list(self._by_test)

    def never_failed(self) -> list[str]:
        return [n for n, same in self._by_test.items() if not any(a.failed for a in same)]

    def fails_serially(self, nodeid: str) -> bool:
        return any(a.failed for a in self.of(nodeid) if a.run_id not in self.parallel_runs)


def _p(value: float) -> str:
    return f"p = {value:.2g}"


class Judge:
    """The confirmation of one suspect; ``run`` yields requests and returns the finding."""

    def __init__(self, nodeid: str, rounds: Rounds, log: Callable[[str], None]) -> None:
        self.nodeid = nodeid
        self.rounds = rounds
        self.log = log
        history = rounds.of(nodeid)
        self.failed = sum(a.failed for a in history)
        self.total = len(history)
        self.rate = rounds.rate(nodeid)
        self.alone: list[bool] = []  # failed? per alone run
        self.screen: list[bool] = []  # failed? per run in the shared screening session
        self.peers: Mapping[str, Judge] = {}  # every suspect's judge, for shared co-runs
        self.shown_after: list[str] = []  # a probe's prefix it showed the culprit's effect after
        self.best = Finding(
            nodeid,
            Classification.FLAKY,
            f"failed {self.failed}/{self.total} rounds; confirmation had not decided",
        )

    @property
    def parallel_suspect(self) -> bool:
        return self.failed > 0 and not self.rounds.fails_serially(self.nodeid)

    def _ask(self, probe: Probe) -> Generator[Request, Answer, ProbeResult]:
        (result,) = yield (probe,)
        return result

    def _alone_runs(self, count: int) -> Generator[Request, Answer, None]:
        """Runs alone (one process, one after the other) until ``count`` were made."""
        missing = count - len(self.alone)
        if missing > 0:
            key = ("alone", self.nodeid, len(self.alone), missing)
            result = yield from self._ask(Probe((self.nodeid,) * missing, key=key))
            self.alone += result.failures(self.nodeid)

    def _say(self, text: str) -> None:
        """A progress line; judges interleave, so each line names its test."""
        self.log(f"    {self.nodeid}: {text}")

    @functools.cached_property
    def first_alone(self) -> int:
        """As many alone runs as naming its first culprit would take (a partner for a parallel
        suspect with one, else a polluter): needed for any culprit, and a flake shows itself
        there, for the price of one session."""
        if self.parallel_suspect and self.partners:
            return plan(self._collision_pvalue, LOOKS * len(self.partners))[0]
        return plan(self._order_pvalue(victim=True), MAX_CANDIDATES)[0]

    @functools.cached_property
    def _beside_control(self) -> int:
        """Its runs beside the control in its first co-run. Under the null hypothesis a run is
        a draw wherever it runs, so a pass there counts against a flake as a pass alone does:
        those runs are left out of the alone runs made before the co-runs."""
        if self.parallel_suspect and self.partners and self.control is not None:
            return self._co_runs
        return 0

    @property
    def alone_up_front(self) -> int:
        """Alone runs made before any other probe: the first ones minus those beside the
        control."""
        return max(MIN_ALONE, self.first_alone - self._beside_control)

    @property
    def screen_runs(self) -> int:
        """Its runs in the screening session: its alone runs up front, or as many as fit in
        ``SCREEN_SECONDS`` if more (a flake at p = 0.1 passes 9 runs in a row 39 % of the
        time, and every probe after screening costs a session or a co-run)."""
        pitch = self.rounds.pitch(self.nodeid)
        fitting = int(SCREEN_SECONDS / pitch) if pitch > 0 else 0
        return max(self.alone_up_front, min(MAX_SCREEN_RUNS, fitting))

    def _screened(self) -> Finding | None:
        """The verdict the screening session already gives: a test failing some of its runs
        in a row is flaky whatever ran before it (leaked state would fail them all), and one
        failing all of them and every round is broken."""
        shown, runs = sum(self.screen), len(self.screen)
        where = "runs in a row in one process"
        if runs and 0 < shown < runs:
            return self._finding(Classification.FLAKY, f"failed {shown}/{runs} {where}")
        if runs and shown == runs and self.failed == self.total:
            return self._finding(
                Classification.BROKEN, f"failed all {self.total} rounds and {runs}/{runs} {where}"
            )
        return None

    def run(self) -> Judgement:
        self.log(f"  confirming {self.nodeid} ({self.failed}/{self.total} rounds failed)")
        screened = self._screened()
        if screened is not None and screened.classification is Classification.BROKEN:
            return (yield from self._unless_brittle(screened))
        if screened is not None:
            return screened
        if self.screen and not any(self.screen):
            # Passes in a row, nothing beside: alone runs. (Failures there are not: a culprit
            # screened before it may have caused them.)
            self.alone = list(self.screen)
        yield from self._alone_runs(self.alone_up_front)
        alone_failures = sum(self.alone)
        if alone_failures == len(self.alone) and self.failed == self.total:
            broken = self._finding(
                Classification.BROKEN,
                f"failed all {self.total} rounds and {alone_failures}/{alone_failures} alone",
            )
            return (yield from self._unless_brittle(broken))
        if 0 < alone_failures < len(self.alone):
            return self._finding(
                Classification.FLAKY, f"{alone_failures}/{len(self.alone)} runs alone failed"
            )
        victim = alone_failures == 0
        if victim and self.parallel_suspect:
            finding = yield from self._parallel()
            if finding is not None:
                return finding
            # No collision stands: a polluter may have run earlier on the same worker.
        return (yield from self._order(victim))

    def _finding(
        self,
        classification: Classification,
        evidence: str,
        culprits: tuple[str, ...] = (),
        p_value: float | None = None,
    ) -> Finding:
        return Finding(self.nodeid, classification, evidence, culprits, p_value)

    def _order_pvalue(self, victim: bool) -> Callable[[int, int], float]:
        def pvalue(alone: int, pairs: int) -> float:
            return order_pvalue(self.rate, alone, pairs, victim=victim)

        return pvalue

    def _collision_pvalue(self, alone: int, co_runs: int) -> float:
        """The p-value of a test failing every one of ``co_runs`` runs beside a partner."""
        return collision_pvalue(self.rate, alone, co_runs, co_runs)

    def _contradicted(self, victim: bool) -> Finding | None:
        """An alone run showed the culprit's effect: the test does that without any culprit."""
        if any(failed == victim for failed in self.alone):
            shown = sum(failed == victim for failed in self.alone)
            verb = "failed" if victim else "passed"
            return self._finding(
                Classification.FLAKY,
                f"{verb} {shown}/{len(self.alone)} times alone too: no culprit needed",
            )
        return None

    # -- parallel-only ------------------------------------------------------------------------
    @functools.cached_property
    def _parallel_attempts(self) -> list[tuple[Attempt, dict[str, float]]]:
        """Its attempts under xdist, each with the seconds every other test ran beside it."""
        return [
            (a, self.rounds.overlap(a))
            for a in self.rounds.of(self.nodeid)
            if a.run_id in self.rounds.parallel_runs
        ]

    @functools.cached_property
    def overlaps(self) -> tuple[Counter[str], Counter[str]]:
        """Seconds each test ran beside this one's failures, and beside its passes, under xdist."""
        during_failures: Counter[str] = Counter()
        during_passes: Counter[str] = Counter()
        for attempt, beside in self._parallel_attempts:
            (during_failures if attempt.failed else during_passes).update(beside)
        return during_failures, during_passes

    @functools.cached_property
    def beside_failures(self) -> list[set[str]]:
        """The tests beside each of its failures under xdist."""
        return [set(beside) for attempt, beside in self._parallel_attempts if attempt.failed]

    @functools.cached_property
    def partners(self) -> list[str]:
        """Tests beside at least half of its failures under xdist, and beside more of its
        failures than of its passes (counted, or in time): a test beside it as much when it
        passed is no suspect. A pass beside a run of that test that failed is left out (in a
        one-sided race the partner loses beside its passes), unless that test fails
        everywhere.

        Two rankings take turns, as neither finds every partner first: by the share of its
        failures minus the share of its passes a test was beside (a partner that broke it in
        a moment, beside a long bystander), and by the part of its run time a test was beside
        it, failures minus passes (a long partner whose race it loses only now and then,
        beside the quick tests that happened to run during a failure). Ties: the failures it
        shared (failing beside them itself, only ever under xdist: two tests breaking each
        other), then the seconds beside the failures."""
        during_failures, _ = self.overlaps
        broken = {n for n in during_failures if all(a.failed for a in self.rounds.of(n))}
        failed_runs: list[dict[str, float]] = []
        passed_runs: list[dict[str, float]] = []
        for attempt, beside in self._parallel_attempts:
            took = max(attempt.stopped_at - attempt.started_at, 1e-9)
            part = {name: min(1.0, seconds / took) for name, seconds in beside.items()}
            if attempt.failed:
                failed_runs.append(part)
            else:
                lost = {
                    n for n in part if n not in broken and self.rounds.failed(attempt.run_id, n)
                }
                passed_runs.append({n: v for n, v in part.items() if n not in lost})

        def mean(name: str, runs: list[dict[str, float]], by_time: bool) -> float:
            total = sum((run[name] if by_time else 1.0) for run in runs if name in run)
            return total / max(1, len(runs))

        def excess(name: str, by_time: bool) -> float:
            return mean(name, failed_runs, by_time) - mean(name, passed_runs, by_time)

        shared = Counter(
            name
            for attempt, beside in self._parallel_attempts
            if attempt.failed
            for name in beside
            if self.rounds.failed(attempt.run_id, name) and not self.rounds.fails_serially(name)
        )
        often = [n for n in during_failures if 2 * mean(n, failed_runs, False) >= 1]
        rankings = [
            sorted(
                (n for n in often if excess(n, by_time) > 0),
                key=lambda n: (-excess(n, by_time), -shared[n], -during_failures[n], n),
            )
            for by_time in (False, True)
        ]
        taking_turns = itertools.chain.from_iterable(itertools.zip_longest(*rankings))
        return list(dict.fromkeys(n for n in taking_turns if n is not None))[:MAX_PARTNERS]

    @functools.cached_property
    def control(self) -> str | None:
        """A test that never failed, to co-run beside: the one that ran beside this test's
        passes longest, else the longest one (so it covers the runs). Not one beside any of
        its failures where another will do: such a test may be the cause though no partner,
        and failing beside the control clears every partner."""
        _, during_passes = self.overlaps
        healthy = [n for n in self.rounds.never_failed() if n not in self.partners]
        unsuspected = [n for n in healthy if not any(n in b for b in self.beside_failures)]
        if not healthy:
            return None
        return max(
            sorted(unsuspected or healthy),
            key=lambda n: (during_passes[n], self.rounds.pitch(n)),
        )

    def _parallel(self) -> Generator[Request, Answer, Finding | None]:
        """Partners one at a time, each only while some failure under xdist is left that it
        ran beside and no partner found so far did: a partner reaching the target explains
        the failures it overlapped."""
        partners = self.partners
        self._say(f"overlapped its failures: {', '.join(partners) or 'none'}")
        if not partners:
            return None
        target = ALPHA / (LOOKS * len(partners))
        control = self.control
        seen: dict[str, list[bool]] = {}
        unproven: set[str] = set()  # a co-run of it where no run overlapped the control
        unexplained = list(self.beside_failures)
        for partner in partners:
            if not any(partner in beside for beside in unexplained):
                continue
            blocks = self._first_blocks(partner)
            for look in range(LOOKS):
                found = yield from self._co_run(blocks, look)
                for other, failed in found.items():
                    seen[other] = seen.get(other, []) + failed
                if control is not None and not found.get(control):
                    # Nothing in that process showed it passing: a test drawing its outcome
                    # once per process would fake the partner.
                    self._say(f"no run overlapped the control {control} beside {partner}")
                    unproven.add(partner)
                beside = seen[partner]
                if self._alone_for(beside, target) is not None:
                    unexplained = [names for names in unexplained if partner not in names]
                    break
                if not any(beside) and 2 * len(beside) >= self._co_runs:
                    break  # passed beside it: no collision to look at again
                blocks = [*blocks[:-1], (partner, MAX_RUNS)]  # a slow start, or many misses
        tried = [p for p in partners if p in seen and any(seen[p]) and p not in unproven]
        needed = [self._alone_for(seen[p], target) for p in tried]
        reachable = [count for count in needed if count is not None]
        if not reachable:
            return None
        beside_control = seen.get(control, []) if control is not None else []
        passed_beside_control = 0 if any(beside_control) else len(beside_control)
        yield from self._alone_runs(max(reachable) - passed_beside_control)
        if any(self.alone):
            return self._contradicted(victim=True)
        passes = len(self.alone) + passed_beside_control
        values = {p: collision_pvalue(self.rate, passes, len(seen[p]), sum(seen[p])) for p in tried}
        named = {partner: value for partner, value in values.items() if value <= target}
        if not named:
            return None
        summary = (
            f"failed {self.failed}/{self.total} rounds, only under xdist; passed"
            f" {len(self.alone)}/{len(self.alone)} alone, failed "
            + ", ".join(
                f"{sum(seen[p])}/{len(seen[p])} runs beside {p} ({_p(v)})" for p, v in named.items()
            )
            + f", against a flake failing {self.rate.low:.0%}-{self.rate.high:.0%} of the time"
            f" (Bonferroni over {len(partners)} partner(s), {LOOKS} co-runs each)"
        )
        if any(beside_control):
            return self._beside_any(summary, control, beside_control)
        if beside_control:
            summary += (
                f"; passed {len(beside_control)}/{len(beside_control)} beside {control}"
                " (counted with the passes alone)"
            )
        return self._finding(
            Classification.PARALLEL_ONLY, summary, tuple(named), max(named.values())
        )

    def _beside_any(self, summary: str, control: str | None, beside_control: list[bool]) -> Finding:
        """It failed beside the control too, so no partner is named. It breaks beside tests in
        general only if its failures in the rounds, all under xdist, are not chance: a test
        whose outcome is drawn once per process passes every alone run of one process and
        fails every run of another, co-run or not."""
        parallel = sum(a.run_id in self.rounds.parallel_runs for a in self.rounds.of(self.nodeid))
        chance = only_parallel_pvalue(self.failed, parallel, self.total)
        evidence = (
            f"{summary}; but it failed {sum(beside_control)}/{len(beside_control)} runs beside"
            f" {control}, which never failed: no partner named; its {self.failed} failure(s)"
            f" all under xdist, in {parallel}/{self.total} rounds ({_p(chance)} for a flake)"
        )
        if chance > ALPHA:
            return self._finding(Classification.FLAKY, f"{evidence}, could be chance")
        return self._finding(
            Classification.PARALLEL_ONLY, f"{evidence}: it breaks beside other tests in general"
        )

    def _alone_for(self, beside: list[bool], target: float) -> int | None:
        def pvalue(alone: int) -> float:
            return collision_pvalue(self.rate, alone, len(beside), sum(beside))

        return fewest_alone(pvalue, target) if any(beside) else None

    @functools.cached_property
    def _co_runs(self) -> int:
        """Runs beside a partner that name it if the test fails every one of them."""
        return plan(self._collision_pvalue, LOOKS * len(self.partners))[1]

    def _first_blocks(self, partner: str) -> list[tuple[str, int]]:
        """The tests the process beside runs in a partner's first co-run, with the runs of this
        test each needs: the control first (every co-run holds its own: a test drawing its
        outcome once per process agrees with itself there; and only the first block starts
        aligned, the processes starting together, and a short control's block is the one
        rounding would misalign), then the partner, with room for the misses of a one-sided
        collision."""
        blocks = [(partner, min(MAX_RUNS, 2 * self._co_runs))]
        if self.control is not None:
            blocks.insert(0, (self.control, self._co_runs))
        return blocks

    def _mutual(self, partner: str) -> "Judge | None":
        """The partner's judge when each is the other's first partner (two tests that break
        each other) and screening decided neither: one co-run answers both."""
        other = self.peers.get(partner)
        if (
            other is None
            or not other.parallel_suspect
            or other.partners[:1] != [self.nodeid]
            or self.partners[:1] != [partner]
            or other._screened() is not None
        ):
            return None
        return other

    def _co_run(
        self, blocks: list[tuple[str, int]], look: int
    ) -> Generator[Request, Answer, dict[str, list[bool]]]:
        """Failed? for each of the test's runs that overlapped each test of ``blocks`` (and no
        other test): the process beside runs each of them in turn, this one the test at least
        as many times as the block says. Two tests that break each other share their first
        co-run: the first one's control block, both side by side, the second one's control
        block, one question for both."""
        mutual = self._mutual(blocks[-1][0]) if look == 0 else None
        key: tuple[object, ...]
        if mutual is None:
            phases = [(self.nodeid, runs, other, 0) for other, runs in blocks]
            key = ("beside", self.nodeid, tuple(blocks), look)
        else:
            first, second = sorted((self, mutual), key=lambda judge: judge.nodeid)
            *lead, (_, first_runs) = first._first_blocks(second.nodeid)
            *tail, (_, second_runs) = second._first_blocks(first.nodeid)
            phases = [
                *((first.nodeid, runs, control, 0) for control, runs in lead),
                (first.nodeid, first_runs, second.nodeid, second_runs),
                *((control, 0, second.nodeid, runs) for control, runs in tail),
            ]
            key = ("side by side", first.nodeid, second.nodeid)
        result = yield from self._ask(_layout(self.rounds, key, phases))
        if mutual is not None and self.nodeid > mutual.nodeid:
            result = result.flipped()  # the shared co-run seen from this test's process
        found = {other: result.side_by_side(self.nodeid, other) for other, _ in blocks}
        for other, failed in found.items():
            self._say(f"beside {other}: failed {sum(failed)}/{len(failed)} runs")
        return found

    # -- order-dependent ----------------------------------------------------------------------
    def _unless_brittle(self, broken: Finding) -> Generator[Request, Answer, Finding]:
        """A test that failed everywhere may need state another test sets, one that never ran
        before it in its process: it runs once after all those tests, and passing there, its
        state-setter is searched among them. Failing there too, it is broken."""
        ran_before = {name for _, before in self._prefixes for name in before}
        never_before = [
            name
            for name in self.rounds.tests()
            if name not in ran_before and name != self.nodeid and name not in self.rounds.crashed
        ]
        if not never_before:
            return replace(broken, evidence=f"{broken.evidence}; every other test ran before it")
        key = ("after the rest", self.nodeid)
        result = yield from self._ask(Probe((*never_before, self.nodeid), key=key))
        if result.failures(self.nodeid) != [False]:  # failed there too, or did not run
            return replace(
                broken,
                evidence=f"{broken.evidence}, and after the {len(never_before)} test(s) that"
                " had never run before it",
            )
        self._say(f"passed after the {len(never_before)} test(s) that never ran before it")
        self.shown_after = never_before
        return (yield from self._order(victim=False))

    def _order(self, victim: bool) -> Generator[Request, Answer, Finding]:
        """Victim: find polluters (pair fails). Brittle: find state-setters (pair passes)."""
        role = "polluter" if victim else "state-setter"
        named = yield from self._confirm(self._from_history(victim), victim)
        contradiction = self._contradicted(victim)
        if contradiction is not None:
            return contradiction
        if not named:
            alone = "passes" if victim else "fails"
            return self._finding(
                Classification.FLAKY,
                f"{alone} alone; no {role} (nor, under xdist, a colliding test) reproduces its"
                f" failures at 99 % confidence",
            )
        effect = "failed right after" if victim else "passed only right after"
        return self._finding(
            Classification.ORDER_DEPENDENT,
            f"{'passed' if victim else 'failed'} {len(self.alone)}/{len(self.alone)} alone, "
            f"{effect} "
            + ", ".join(f"{role} {c} ({n}/{n} runs, {_p(v)})" for c, (n, v) in named.items())
            + f", against a flake failing {self.rate.low:.0%}-{self.rate.high:.0%} of the time"
            f" (Bonferroni over {MAX_CANDIDATES} candidates)",
            tuple(named),
            max(v for _, v in named.values()),
        )

    def _confirm(
        self, covers: dict[str, set[int]], victim: bool
    ) -> Generator[Request, Answer, dict[str, tuple[int, float]]]:
        """Up to ``MAX_CANDIDATES`` candidates get pair runs, then the shared alone runs name
        those reaching ``ALPHA / MAX_CANDIDATES``. History candidates come first, those
        explaining most rounds not yet explained first (tied ones at once: a flake that failed
        in the same rounds looks as good as the polluter); then bisection finds the next one
        while the earlier tests minus the culprits found still produce the effect: those of
        the rounds no culprit explains, if any (the shorter search), else of all of them (a
        culprit that only ever ran where another one did). Only candidates are searched: a
        test that ran before the usual outcome too cannot show the effect in every pair run."""

        pvalue_for = self._order_pvalue(victim)
        alone_needed, pairs_needed = plan(pvalue_for, MAX_CANDIDATES)
        effects = self._effects(victim)
        if self.shown_after:
            effects[len(self._prefixes)] = self.shown_after
        searchable = covers.keys() | set(self.shown_after)
        explained: set[int] = set()
        untried = dict(covers)
        tried: list[str] = []
        survivors: list[str] = []
        while untried and len(tried) < MAX_FROM_HISTORY:
            gain = {name: len(cover - explained) for name, cover in untried.items()}
            best = max(gain.values())
            if not best and survivors:
                break  # every round is explained; bisection looks for a hidden one
            tied = sorted((n for n in untried if gain[n] == best), key=lambda n: -len(untried[n]))
            tied = tied[: MAX_FROM_HISTORY - len(tried)]
            tried += tied
            shown = yield from self._pairs_show_effect(tied, pairs_needed, victim)
            for candidate, ok in zip(tied, shown, strict=True):
                cover = untried.pop(candidate)
                if ok:
                    survivors.append(candidate)
                    explained |= cover
            if self._contradicted(victim) is not None:
                return {}
        while len(tried) < MAX_CANDIDATES:
            unexplained = sorted(effects.keys() - explained) or sorted(effects)
            prefixes = [[n for n in effects[index] if n in searchable] for index in unexplained]
            found = yield from self._bisect(victim, set(tried), prefixes)
            found = found[: MAX_CANDIDATES - len(tried)]
            if not found:
                break
            tried += found
            shown = yield from self._pairs_show_effect(found, pairs_needed, victim)
            for culprit in (culprit for culprit, ok in zip(found, shown, strict=True) if ok):
                survivors.append(culprit)
                explained |= {index for index, before in effects.items() if culprit in before}
            if self._contradicted(victim) is not None:
                return {}
        if not survivors:
            return {}
        yield from self._alone_runs(alone_needed)
        if self._contradicted(victim) is not None:
            return {}
        value = pvalue_for(len(self.alone), pairs_needed)
        return {c: (pairs_needed, value) for c in survivors if value <= ALPHA / MAX_CANDIDATES}

    def _pairs_show_effect(
        self, culprits: list[str], runs: int, victim: bool
    ) -> Generator[Request, Answer, list[bool]]:
        """For each culprit (one session each, all at once): right after it the test shows the
        outcome it does not show alone, each time: the test once, then the culprit and the test
        ``runs`` times, in one process.

        The first run is an alone run of that process. It keeps a test whose outcome is drawn
        once per process (string hash order, import-time randomness) from faking a culprit:
        its runs in one process all agree, so it shows the effect before the culprit too (an
        alone run contradicting every culprit) or not at all."""
        results = yield tuple(
            Probe(
                (self.nodeid, *(culprit, self.nodeid) * runs),
                key=("pair", culprit, self.nodeid, runs),
            )
            for culprit in culprits
        )
        verdicts = []
        for culprit, result in zip(culprits, results, strict=True):
            outcomes = result.failures(self.nodeid)
            if len(outcomes) != runs + 1:  # a run did not run its code: no evidence
                self._say(f"after {culprit}: {runs + 1 - len(outcomes)} run(s) did not execute")
                verdicts.append(False)
                continue
            first, *after = outcomes
            self.alone.append(first)
            shown = sum(failed == victim for failed in after)
            before = "effect" if first == victim else "usual outcome"
            self._say(f"after {culprit}: effect in {shown}/{runs} runs ({before} before it)")
            verdicts.append(shown == runs)
        return verdicts

    def _from_history(self, victim: bool) -> dict[str, set[int]]:
        """Candidates and the rounds each explains: tests that ran earlier in the same process
        when the test showed the culprit's effect, and never before its usual outcome."""
        covers: dict[str, set[int]] = {}
        excluded: set[str] = set()
        for index, (attempt, before) in enumerate(self._prefixes):
            if attempt.failed == victim:
                for name in before:
                    covers.setdefault(name, set()).add(index)
            else:
                excluded.update(before)
        return {name: cover for name, cover in covers.items() if name not in excluded}

    @functools.cached_property
    def _prefixes(self) -> list[tuple[Attempt, list[str]]]:
        """Its attempts, each with the tests that ran earlier in its process."""
        return [(a, self.rounds.prefix(a)) for a in self.rounds.of(self.nodeid)]

    def _effects(self, victim: bool) -> dict[int, list[str]]:
        """The tests that ran earlier in its process, for each of its attempts (by index) that
        showed the culprit's effect."""
        return {
            index: before
            for index, (attempt, before) in enumerate(self._prefixes)
            if attempt.failed == victim
        }

    def _bisect(
        self, victim: bool, without: set[str], prefixes: list[list[str]]
    ) -> Generator[Request, Answer, list[str]]:
        """Tests of ``prefixes`` (minus ``without``) that each produce the effect by themselves:
        every part still showing the effect is halved again, the parts of a step all at once,
        down to single tests; none when the effect does not show or needs tests from two
        parts (not a single culprit). Two culprits in different halves are found in one pass;
        ``MAX_BATCH`` caps the probes of a step (a part left out is found by a later search).
        Bisection only searches: the pair runs after it are the evidence."""
        prefix: list[str] = []
        for before in prefixes:
            prefix += [n for n in before if n not in prefix]
        live = [[n for n in prefix if n not in without and n != self.nodeid]]
        tag = ("bisect", self.nodeid, tuple(sorted(without)))
        found: list[str] = []
        step = 0
        while live := [part for part in live if part][: MAX_BATCH // 2]:
            parts = [half for part in live for half in _halves(part)]
            step += 1
            results = yield tuple(
                Probe((*part, self.nodeid), key=(*tag, step, index))
                for index, part in enumerate(parts)
            )
            shown = [
                part
                for part, result in zip(parts, results, strict=True)
                if result.failures(self.nodeid) == [victim]
            ]
            found += [part[0] for part in shown if len(part) == 1]
            live = [part for part in shown if len(part) > 1]
        for culprit in found:
            self._say(f"bisected to {culprit}")
        return found


def _halves(tests: list[str]) -> list[list[str]]:
    half = max(1, len(tests) // 2)
    return [part for part in (tests[:half], tests[half:]) if part]


Phase = tuple[str, int, str, int]  # first process's test and runs, second process's


def _layout(rounds: Rounds, key: tuple[object, ...], phases: Sequence[Phase]) -> Probe:
    """A co-run's two processes: in each phase the first runs its test at least as many times
    as the phase says, the second its own, both repeated to span the same time (a long test's
    last repeat included). Each phase starts in both at once (a barrier): the recorded time
    of a test in the rounds can be far off its time repeated (a quick test's includes the
    next test's setup), and a phase of one process would drift into the next of the other."""
    first: list[str] = []
    second: list[str] = []
    starts: list[tuple[int, int]] = []
    for left, left_runs, right, right_runs in phases:
        if first:
            starts.append((len(first), len(second)))
        left_pitch, right_pitch = (max(rounds.pitch(test), 1e-3) for test in (left, right))
        span = max(left_runs * left_pitch, right_runs * right_pitch, left_pitch, right_pitch)
        span = max(
            _repeats(span, left_pitch) * left_pitch, _repeats(span, right_pitch) * right_pitch
        )
        first += [left] * _repeats(span, left_pitch)
        second += [right] * _repeats(span, right_pitch)
    return Probe(tuple(first), tuple(second), key, tuple(starts))


def _repeats(span: float, pitch: float) -> int:
    return min(MAX_COVER, math.ceil(span / pitch - 1e-9))


def confirm(
    rounds: Rounds,
    suspects: list[str],
    prober: Prober,
    log: Callable[[str], None],
    deadline: float | None = None,
) -> list[Finding]:
    """Judge every suspect; requests of different suspects run at once when their tests are
    disjoint and at most one touches a guarded test (see ``_batch``). Past ``deadline``
    (``time.monotonic``) each undecided suspect gets its best verdict so far, marked
    unconfirmed."""
    judges = {nodeid: Judge(nodeid, rounds, log) for nodeid in suspects}
    for judge in judges.values():
        judge.peers = judges
    guarded = {
        test
        for judge in judges.values()
        if judge.parallel_suspect
        for test in (judge.nodeid, *judge.overlaps[0], *([judge.control] if judge.control else []))
    }
    _screen([judges[n] for n in suspects], guarded, prober)
    runs = {nodeid: judge.run() for nodeid, judge in judges.items()}
    cache: dict[tuple[object, ...], ProbeResult] = {}
    pending: dict[str, Request] = {}
    done: dict[str, Finding] = {}

    def cached(request: Request) -> Answer | None:
        if all(probe.key in cache for probe in request):
            return tuple(cache[probe.key] for probe in request)
        return None

    def advance(nodeid: str, answer: Answer | None) -> None:
        try:
            while True:
                request = runs[nodeid].send(answer) if answer is not None else next(runs[nodeid])
                answer = cached(request)
                if answer is None:
                    pending[nodeid] = request
                    return
        except StopIteration as stop:
            done[nodeid] = stop.value
            pending.pop(nodeid, None)

    for nodeid in suspects:
        advance(nodeid, None)
    while pending:
        for nodeid in list(pending):
            answer = cached(pending[nodeid])
            if answer is not None:
                del pending[nodeid]
                advance(nodeid, answer)
        if not pending:
            break
        if deadline is not None and time.monotonic() > deadline:
            for nodeid in list(pending):
                best = judges[nodeid].best
                done[nodeid] = replace(
                    best, confirmed=False, evidence=best.evidence + " (--max-minutes reached)"
                )
                del pending[nodeid]
            break
        batch = _batch(pending, guarded)
        probes = [probe for nodeid in batch for probe in pending[nodeid]]
        for probe, result in zip(probes, prober.run(probes), strict=True):
            cache[probe.key] = result
    return [done[nodeid] for nodeid in suspects]


def _screen(judges: list[Judge], guarded: set[str], prober: Prober) -> None:
    """Every suspect's first alone runs in a row, one suspect after the other, in two sessions
    at once: one for the ``guarded`` suspects (which may collide with each other), one for the
    rest. Most flakes and broken tests are decided there, for two sessions instead of one
    each."""
    if len(judges) < 2:
        return
    groups = [
        group
        for side in (True, False)
        if (group := [judge for judge in judges if (judge.nodeid in guarded) == side])
    ]
    probes = [
        Probe(
            tuple(test for judge in group for test in (judge.nodeid,) * judge.screen_runs),
            key=("screen", index),
        )
        for index, group in enumerate(groups)
    ]
    for group, result in zip(groups, prober.run(probes), strict=True):
        for judge in group:
            judge.screen = result.failures(judge.nodeid)


def _batch(pending: dict[str, Request], guarded: set[str]) -> list[str]:
    """Suspects whose next requests can run at once, up to ``MAX_BATCH`` processes, their tests
    disjoint. A request touching ``guarded`` tests (parallel suspects, every test beside one of
    their failures, their controls: they may collide through files with whatever runs beside
    them) runs by itself, unless it is only alone runs, which interference can only make fail
    (contradicting a culprit, never faking one); then it is the one such request of the batch.
    Requests touching guarded tests wait for each other, so they are chosen first: they are the
    longest chain."""

    def tests(request: Request) -> set[str]:
        return {test for probe in request for test in (*probe.tests, *probe.beside)}

    def touches(request: Request) -> bool:
        return any(probe.parallel for probe in request) or bool(tests(request) & guarded)

    def shareable(request: Request) -> bool:
        return not touches(request) or all(probe.key[:1] == ("alone",) for probe in request)

    (first, request), *others = sorted(pending.items(), key=lambda item: not touches(item[1]))
    if not shareable(request):
        return [first]
    chosen, used, size, guard_taken = [first], tests(request), len(request), touches(request)
    for nodeid, request in others:
        if (
            not shareable(request)
            or size + len(request) > MAX_BATCH
            or tests(request) & used
            or (touches(request) and guard_taken)
        ):
            continue
        chosen.append(nodeid)
        used |= tests(request)
        size += len(request)
        guard_taken = guard_taken or touches(request)
    return chosen
