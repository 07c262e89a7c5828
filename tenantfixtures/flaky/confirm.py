"""Confirms what the nightly rounds suggest, by targeted reruns (the iDFlakies/iPFlakies recipe).

- first, one screening session runs every suspect a few times in a row: failing some of its
  runs there: flaky; failing all of them and every round: broken (else it is run alone);
- fails in every round and alone: broken;
- fails only under xdist, passes alone: co-run beside the tests that overlapped its failures
  (two processes started together, as two workers); a partner is named when its failures
  beside it, against its passes alone, reject "a flake at its observed rate", and it passes
  beside a control test that never failed (else: parallel-only, no partner);
- passes alone, fails in some orders: every test whose presence earlier in the same process
  matches its failures is a candidate polluter, run right before it; fails alone but passes in
  some orders: the same for the state-setter (order-dependent); a bisected failing prefix when
  the history names none;
- anything else, or evidence short of 99 % confidence (see :mod:`stats`): flaky, no culprit.

Each suspect's confirmation is a generator of probes, so the driver can stop each one early,
run probes of different suspects at once, and stop everything at a deadline with the
best verdict so far. Repeated runs of one question (alone, after one candidate, beside one
partner) share a session: under the null hypothesis each run is an independent draw wherever
it runs, and a session start costs more than most tests.
"""

import functools
import math
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace

from tenantfixtures.flaky.models import Attempt, Classification, Finding
from tenantfixtures.flaky.runner import Probe, Prober, ProbeResult
from tenantfixtures.flaky.stats import (
    ALPHA,
    MAX_RUNS,
    Interval,
    collision_pvalue,
    fewest_alone,
    order_pvalue,
    plan,
)

MAX_CANDIDATES = 8  # candidates tried per test: the Bonferroni family
MAX_FROM_HISTORY = 3  # of which taken from the recorded orders; the rest found by bisection
MAX_PARTNERS = 2  # co-run partners tried per test (co-runs are the costliest probes)
MAX_NO_OVERLAP = 1  # extra co-run sessions when too few runs overlapped (a slow start)
MAX_BATCH = 4  # probes run at once, each in a session of its own
MAX_COVER = 200  # repeats of a short test spanning a longer one's runs beside it

Judgement = Generator[Probe, ProbeResult, Finding]


@dataclass
class Rounds:
    """The rounds' first attempts, indexed for the questions confirmation asks."""

    attempts: list[Attempt]
    parallel_runs: set[str]
    _by_test: dict[str, list[Attempt]] = field(default_factory=dict, init=False)
    _by_process: dict[tuple[str, str | None], list[Attempt]] = field(
        default_factory=dict, init=False
    )
    _pitches: dict[str, list[float]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
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

    def never_failed(self) -> list[str]:
        return [n for n, same in self._by_test.items() if not any(a.failed for a in same)]

    def fails_serially(self, nodeid: str) -> bool:
        return any(a.failed for a in self.of(nodeid) if a.run_id not in self.parallel_runs)


def _p(value: float) -> str:
    return f"p = {value:.2g}"


class Judge:
    """The confirmation of one suspect; ``run`` yields probes and returns the finding."""

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
        self.best = Finding(
            nodeid,
            Classification.FLAKY,
            f"failed {self.failed}/{self.total} rounds; confirmation had not decided",
        )

    @property
    def parallel_suspect(self) -> bool:
        return self.failed > 0 and not self.rounds.fails_serially(self.nodeid)

    def _alone_runs(self, count: int) -> Generator[Probe, ProbeResult, None]:
        """Runs alone (one process, one after the other) until ``count`` were made."""
        missing = count - len(self.alone)
        if missing > 0:
            key = ("alone", self.nodeid, len(self.alone), missing)
            result = yield Probe((self.nodeid,) * missing, key=key)
            self.alone += result.failures(self.nodeid)

    def _say(self, text: str) -> None:
        """A progress line; judges interleave, so each line names its test."""
        self.log(f"    {self.nodeid}: {text}")

    @property
    def first_alone(self) -> int:
        """As many alone runs as naming a polluter would take: needed for any culprit, and a
        flake shows itself there, for the price of one session."""
        return plan(self._order_pvalue(victim=True), MAX_CANDIDATES)[0]

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
        if screened is not None:
            return screened
        yield from self._alone_runs(self.first_alone)
        alone_failures = sum(self.alone)
        if alone_failures == len(self.alone) and self.failed == self.total:
            return self._finding(
                Classification.BROKEN,
                f"failed all {self.total} rounds and {alone_failures}/{alone_failures} alone",
            )
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
    def overlaps(self) -> tuple[Counter[str], Counter[str]]:
        """Seconds each test ran beside this one's failures, and beside its passes, under xdist."""
        during_failures: Counter[str] = Counter()
        during_passes: Counter[str] = Counter()
        for attempt in self.rounds.of(self.nodeid):
            if attempt.run_id in self.rounds.parallel_runs:
                (during_failures if attempt.failed else during_passes).update(
                    self.rounds.overlap(attempt)
                )
        return during_failures, during_passes

    def _partners(self) -> list[str]:
        """Tests that overlapped at least half of the failures under xdist, and longer per
        failure than per passing attempt, longest first: a partner that ran beside it as
        much when it passed (or beside one failure by chance) is no suspect. Per attempt,
        not in total: the winner of a one-sided race overlaps many passes too."""
        during_failures, during_passes = self.overlaps
        parallel = [a for a in self.rounds.of(self.nodeid) if a.run_id in self.rounds.parallel_runs]
        failures = [a for a in parallel if a.failed]
        passes = max(1, len(parallel) - len(failures))
        beside: Counter[str] = Counter()
        for attempt in failures:
            beside.update(self.rounds.overlap(attempt).keys())
        return [
            name
            for name, seconds in during_failures.most_common()
            if seconds / len(failures) > during_passes[name] / passes
            and 2 * beside[name] >= len(failures)
        ][:MAX_PARTNERS]

    def _control(self, partners: list[str]) -> str | None:
        """A test that never failed, to co-run beside: the one that ran beside this test's
        passes longest, else the longest one (so it covers the runs)."""
        _, during_passes = self.overlaps
        healthy = [n for n in self.rounds.never_failed() if n not in partners]
        if not healthy:
            return None
        return max(sorted(healthy), key=lambda n: (during_passes[n], self.rounds.pitch(n)))

    def _parallel(self) -> Generator[Probe, ProbeResult, Finding | None]:
        partners = self._partners()
        self._say(f"overlapped its failures: {', '.join(partners) or 'none'}")
        if not partners:
            return None
        target = ALPHA / len(partners)
        _, co_runs = plan(lambda a, c: collision_pvalue(self.rate, a, c, c), len(partners))
        runs = min(MAX_RUNS, 2 * co_runs)  # room for the misses of a one-sided collision
        control = self._control(partners)
        # The control last: what a partner leaves behind shows there, against the partner.
        others = [*partners, *([control] if control else [])]
        seen = yield from self._co_runs(others, runs, len(partners))
        needed = [self._alone_for(seen[p], target) for p in partners if any(seen[p])]
        reachable = [count for count in needed if count is not None]
        if not reachable:
            return None
        yield from self._alone_runs(max(reachable))
        if any(self.alone):
            return self._contradicted(victim=True)
        values = {
            p: collision_pvalue(self.rate, len(self.alone), len(seen[p]), sum(seen[p]))
            for p in partners
            if any(seen[p])
        }
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
            f" (Bonferroni over {len(partners)} partners)"
        )
        if control is not None:
            beside_control = seen[control]
            if any(beside_control):
                return self._finding(
                    Classification.PARALLEL_ONLY,
                    f"{summary}; but it failed {sum(beside_control)}/{len(beside_control)}"
                    f" runs beside {control}, which never failed: it breaks beside other"
                    " tests in general, no partner named",
                )
            summary += f"; passed {len(beside_control)}/{len(beside_control)} beside {control}"
        return self._finding(
            Classification.PARALLEL_ONLY, summary, tuple(named), max(named.values())
        )

    def _alone_for(self, beside: list[bool], target: float) -> int | None:
        def pvalue(alone: int) -> float:
            return collision_pvalue(self.rate, alone, len(beside), sum(beside))

        return fewest_alone(pvalue, target)

    def _co_runs(
        self, others: list[str], runs: int, partners: int
    ) -> Generator[Probe, ProbeResult, dict[str, list[bool]]]:
        """Failed? for each of the test's runs that overlapped each of ``others`` (and no other
        test): the process beside runs each of them in turn, this one the test, both repeated
        to span the same time per block, at least ``runs`` times for this test; one more
        co-run while fewer than half of the runs beside a partner (the first ``partners``
        of ``others``) overlapped it (a slow start)."""
        mine_pitch = max(self.rounds.pitch(self.nodeid), 1e-3)
        tests: list[str] = []
        beside: list[str] = []
        for other in others:
            pitch = max(self.rounds.pitch(other), 1e-3)
            block = max(runs * mine_pitch, pitch)
            tests += [self.nodeid] * min(MAX_COVER, math.ceil(block / mine_pitch))
            beside += [other] * min(MAX_COVER, math.ceil(block / pitch))
        seen: dict[str, list[bool]] = {other: [] for other in others}
        for attempt in range(MAX_NO_OVERLAP + 1):
            key = ("beside", self.nodeid, tuple(others), runs, attempt)
            result = yield Probe(tuple(tests), tuple(beside), key)
            for other in others:
                seen[other] += result.side_by_side(self.nodeid, other)
            short = [other for other in others[:partners] if 2 * len(seen[other]) < runs]
            if not short:
                break
            self._say(f"too few runs overlapped {', '.join(short)}: co-running again")
        for other in others:
            self._say(f"beside {other}: failed {sum(seen[other])}/{len(seen[other])} runs")
        return seen

    # -- order-dependent ----------------------------------------------------------------------
    def _order(self, victim: bool) -> Generator[Probe, ProbeResult, Finding]:
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
    ) -> Generator[Probe, ProbeResult, dict[str, tuple[int, float]]]:
        """Up to ``MAX_CANDIDATES`` candidates get pair runs, then the shared alone runs name
        those reaching ``ALPHA / MAX_CANDIDATES``. History candidates come first, the one
        explaining most rounds not yet explained first; then, while the earlier tests minus
        the culprits found still produce the effect, bisection finds the next one."""

        pvalue_for = self._order_pvalue(victim)
        alone_needed, pairs_needed = plan(pvalue_for, MAX_CANDIDATES)
        explained: set[int] = set()
        untried = dict(covers)
        tried: list[str] = []
        survivors: list[str] = []
        while untried and len(tried) < MAX_FROM_HISTORY:
            candidate = max(
                sorted(untried),
                key=lambda name: (len(untried[name] - explained), len(untried[name])),
            )
            cover = untried.pop(candidate)
            if not cover - explained and survivors:
                break  # every round is explained; bisection looks for a hidden one
            tried.append(candidate)
            if (yield from self._pairs_show_effect(candidate, pairs_needed, victim)):
                survivors.append(candidate)
                explained |= cover
        while len(tried) < MAX_CANDIDATES:
            found = yield from self._bisect(victim, set(tried))
            if found is None:
                break
            tried.append(found)
            if (yield from self._pairs_show_effect(found, pairs_needed, victim)):
                survivors.append(found)
        if not survivors:
            return {}
        yield from self._alone_runs(alone_needed)
        if self._contradicted(victim) is not None:
            return {}
        value = pvalue_for(len(self.alone), pairs_needed)
        return {c: (pairs_needed, value) for c in survivors if value <= ALPHA / MAX_CANDIDATES}

    def _pairs_show_effect(
        self, culprit: str, runs: int, victim: bool
    ) -> Generator[Probe, ProbeResult, bool]:
        """Right after ``culprit`` the test shows the outcome it does not show alone, each
        time: ``culprit`` then the test, ``runs`` times in one process."""
        key = ("pair", culprit, self.nodeid, runs)
        result = yield Probe((culprit, self.nodeid) * runs, key=key)
        shown = sum(failed == victim for failed in result.failures(self.nodeid))
        self._say(f"after {culprit}: effect in {shown}/{runs} runs")
        return shown == runs

    def _from_history(self, victim: bool) -> dict[str, set[int]]:
        """Candidates and the rounds each explains: tests that ran earlier in the same process
        when the test showed the culprit's effect, and never before its usual outcome."""
        covers: dict[str, set[int]] = {}
        excluded: set[str] = set()
        for index, attempt in enumerate(self.rounds.of(self.nodeid)):
            before = self.rounds.prefix(attempt)
            if attempt.failed == victim:
                for name in before:
                    covers.setdefault(name, set()).add(index)
            else:
                excluded.update(before)
        return {name: cover for name, cover in covers.items() if name not in excluded}

    def _bisect(self, victim: bool, without: set[str]) -> Generator[Probe, ProbeResult, str | None]:
        """Every test that ran before the effect in some round (minus ``without``), halved
        while the effect shows, until one is left; None when the effect does not show or needs
        tests from both halves (not a single culprit)."""
        prefix: list[str] = []
        for attempt in self.rounds.of(self.nodeid):
            if attempt.failed == victim:
                prefix += [n for n in self.rounds.prefix(attempt) if n not in prefix]
        prefix = [n for n in prefix if n not in without and n != self.nodeid]
        if not prefix:
            return None
        tag = ("bisect", self.nodeid, tuple(sorted(without)))
        step = 0
        result = yield Probe((*prefix, self.nodeid), key=(*tag, step))
        if result.failures(self.nodeid) != [victim]:
            return None
        while len(prefix) > 1:
            half = len(prefix) // 2
            for part in (prefix[:half], prefix[half:]):
                step += 1
                result = yield Probe((*part, self.nodeid), key=(*tag, step))
                if result.failures(self.nodeid) == [victim]:
                    prefix = part
                    break
            else:
                return None
        self._say(f"bisected to {prefix[0]}")
        return prefix[0]


def confirm(
    rounds: Rounds,
    suspects: list[str],
    prober: Prober,
    log: Callable[[str], None],
    deadline: float | None = None,
) -> list[Finding]:
    """Judge every suspect; probes of different suspects run at once when their tests are
    disjoint and none needs the machine alone. Past ``deadline`` (``time.monotonic``) each
    undecided suspect gets its best verdict so far, marked unconfirmed."""
    judges = {nodeid: Judge(nodeid, rounds, log) for nodeid in suspects}
    solo = {nodeid for nodeid, judge in judges.items() if judge.parallel_suspect}
    _screen([judges[n] for n in suspects], prober)
    runs = {nodeid: judge.run() for nodeid, judge in judges.items()}
    cache: dict[tuple[object, ...], ProbeResult] = {}
    pending: dict[str, Probe] = {}
    done: dict[str, Finding] = {}

    def advance(nodeid: str, result: ProbeResult | None) -> None:
        try:
            while True:
                probe = runs[nodeid].send(result) if result is not None else next(runs[nodeid])
                if probe.key not in cache:
                    pending[nodeid] = probe
                    return
                result = cache[probe.key]
        except StopIteration as stop:
            done[nodeid] = stop.value
            pending.pop(nodeid, None)

    for nodeid in suspects:
        advance(nodeid, None)
    while pending:
        for nodeid in [n for n, probe in pending.items() if probe.key in cache]:
            advance(nodeid, cache[pending.pop(nodeid).key])
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
        batch = _batch(pending, solo)
        results = prober.run([pending[nodeid] for nodeid in batch])
        for nodeid, result in zip(batch, results, strict=True):
            cache[pending[nodeid].key] = result
        for nodeid, result in zip(batch, results, strict=True):
            del pending[nodeid]
            advance(nodeid, result)
    return [done[nodeid] for nodeid in suspects]


def _screen(judges: list[Judge], prober: Prober) -> None:
    """One session, with nothing beside it, runs each suspect its first alone runs in a row,
    one after the other: most flakes and broken tests are decided there, for one session
    instead of one each."""
    if len(judges) < 2:
        return
    tests = tuple(t for judge in judges for t in (judge.nodeid,) * judge.first_alone)
    (result,) = prober.run([Probe(tests, key=("screen",))])
    for judge in judges:
        judge.screen = result.failures(judge.nodeid)


def _batch(pending: dict[str, Probe], solo: set[str]) -> list[str]:
    """Suspects whose next probes can run at once: serial, disjoint tests, none of them a
    parallel suspect (those may collide through files with whatever runs beside them)."""
    chosen: list[str] = []
    used: set[str] = set()
    for nodeid, probe in pending.items():
        shareable = not probe.parallel and not (set(probe.tests) & solo)
        if not chosen:
            chosen.append(nodeid)
            used |= set(probe.tests)
            if not shareable:
                return chosen
            continue
        if shareable and not (set(probe.tests) & used) and len(chosen) < MAX_BATCH:
            chosen.append(nodeid)
            used |= set(probe.tests)
    first = pending[chosen[0]]
    if first.parallel or set(first.tests) & solo:
        return chosen[:1]
    return chosen
