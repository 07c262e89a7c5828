"""Confirms what the nightly rounds suggest, by targeted reruns (the iDFlakies/iPFlakies recipe).

- fails in every round and alone: broken;
- fails only under xdist, passes alone: run on two workers beside the tests that overlapped its
  failures; a partner is named when the test fails in every co-run beside it, rejecting "a
  flake at its observed rate" (parallel-only);
- passes alone, fails in some orders: every test whose presence earlier in the same process
  matches its failures is a candidate polluter, run right before it; fails alone but passes in
  some orders: the same for the state-setter (order-dependent); a bisected failing prefix when
  the history names none;
- anything else, or evidence short of 99 % confidence (see :mod:`stats`): flaky, no culprit.

Each suspect's confirmation is a generator of probes, so the driver can stop each one early,
run probes of different suspects at once, and stop everything at a deadline with the
best verdict so far.
"""

import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace

from tenantfixtures.flaky.models import Attempt, Classification, Finding
from tenantfixtures.flaky.runner import Probe, Prober, ProbeResult
from tenantfixtures.flaky.stats import (
    ALPHA,
    Interval,
    collision_pvalue,
    order_pvalue,
    plan,
)

MAX_CANDIDATES = 8  # candidates tried per test: the Bonferroni family
MAX_FROM_HISTORY = 3  # of which taken from the recorded orders; the rest found by bisection
MAX_PARTNERS = 2  # co-run partners tried per test (co-runs are the costliest probes)
MAX_NO_OVERLAP = 3  # co-runs allowed to miss each other (a late worker start) per partner
MAX_BATCH = 4  # probes run at once, each in a session of its own

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

    def __post_init__(self) -> None:
        for attempt in self.attempts:
            self._by_test.setdefault(attempt.nodeid, []).append(attempt)
            self._by_process.setdefault((attempt.run_id, attempt.worker), []).append(attempt)
        for same in self._by_process.values():
            same.sort(key=lambda a: a.position)

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
        self.best = Finding(
            nodeid,
            Classification.FLAKY,
            f"failed {self.failed}/{self.total} rounds; confirmation had not decided",
        )

    @property
    def parallel_suspect(self) -> bool:
        return self.failed > 0 and not self.rounds.fails_serially(self.nodeid)

    def _alone_runs(self, count: int) -> Generator[Probe, ProbeResult, None]:
        while len(self.alone) < count:
            result = yield Probe((self.nodeid,), key=("alone", self.nodeid, len(self.alone)))
            self.alone.append(result.failed(self.nodeid))

    def run(self) -> Judgement:
        self.log(f"  confirming {self.nodeid} ({self.failed}/{self.total} rounds failed)")
        yield from self._alone_runs(2)
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
    def _partners(self) -> list[str]:
        """Tests that overlapped the failures longer than they overlapped passing attempts
        under xdist, longest first: a partner that ran beside it harmlessly is no suspect."""
        history = self.rounds.of(self.nodeid)
        during_failures: Counter[str] = Counter()
        during_passes: Counter[str] = Counter()
        for attempt in history:
            if attempt.run_id not in self.rounds.parallel_runs:
                continue
            (during_failures if attempt.failed else during_passes).update(
                self.rounds.overlap(attempt)
            )
        ranked = during_failures.most_common()
        return [name for name, seconds in ranked if seconds > during_passes[name]][:MAX_PARTNERS]

    def _parallel(self) -> Generator[Probe, ProbeResult, Finding | None]:
        partners = self._partners()
        self.log(f"    overlapped its failures: {', '.join(partners) or 'none'}")
        if not partners:
            return None

        def pvalue_for(alone: int, runs: int) -> float:
            return collision_pvalue(self.rate, alone, runs)

        alone_needed, runs_needed = plan(pvalue_for, len(partners))
        confirmed: list[str] = []
        for partner in partners:
            if (yield from self._co_runs(partner, runs_needed)):
                confirmed.append(partner)
        if not confirmed:
            return None
        yield from self._alone_runs(alone_needed)
        if any(self.alone):
            return self._contradicted(victim=True)
        value = pvalue_for(len(self.alone), runs_needed)
        if value > ALPHA / len(partners):
            return None
        return self._finding(
            Classification.PARALLEL_ONLY,
            f"failed {self.failed}/{self.total} rounds, only under xdist; passed "
            f"{len(self.alone)}/{len(self.alone)} alone, failed in each of {runs_needed} co-runs"
            f" beside {', '.join(confirmed)}, {_p(value)} against a flake failing "
            f"{self.rate.low:.0%}-{self.rate.high:.0%} of the time"
            f" (Bonferroni over {len(partners)} partners)",
            tuple(confirmed),
            value,
        )

    def _co_runs(self, partner: str, needed: int) -> Generator[Probe, ProbeResult, bool]:
        """Co-runs side by side until this test failed in ``needed`` that overlapped; False at
        the first overlapped one it passed (or when too many missed each other)."""
        overlapped = missed = 0
        pair = tuple(sorted((self.nodeid, partner)))
        while overlapped < needed:
            result = yield Probe(pair, parallel=True, key=("beside", pair, overlapped + missed))
            if not result.overlapped:
                missed += 1
                self.log(f"    beside {partner}: did not overlap")
                if missed > MAX_NO_OVERLAP:
                    return False
                continue
            mine, theirs = result.failed(self.nodeid), result.failed(partner)
            self.log(f"    beside {partner}: {_pair_outcome(mine, theirs)}")
            if not mine:
                return False
            overlapped += 1
        return True

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

        def pvalue_for(alone: int, pairs: int) -> float:
            return order_pvalue(self.rate, alone, pairs, victim=victim)

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
        """Right after ``culprit`` the test shows the outcome it does not show alone, each time
        (stops at the first run that does not)."""
        for index in range(runs):
            probe = Probe((culprit, self.nodeid), key=("pair", culprit, self.nodeid, index))
            result = yield probe
            if result.failed(self.nodeid) != victim:
                self.log(f"    after {culprit}: no effect (run {index + 1})")
                return False
        self.log(f"    after {culprit}: effect in {runs}/{runs} runs")
        return True

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
        if result.failed(self.nodeid) != victim:
            return None
        while len(prefix) > 1:
            half = len(prefix) // 2
            for part in (prefix[:half], prefix[half:]):
                step += 1
                result = yield Probe((*part, self.nodeid), key=(*tag, step))
                if result.failed(self.nodeid) == victim:
                    prefix = part
                    break
            else:
                return None
        self.log(f"    bisected to {prefix[0]}")
        return prefix[0]


def _pair_outcome(mine: bool, theirs: bool) -> str:
    return {
        (True, True): "both failed",
        (True, False): "it failed",
        (False, True): "the partner failed",
        (False, False): "both passed",
    }[(mine, theirs)]


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
    runs = {nodeid: judge.run() for nodeid, judge in judges.items()}
    solo = {nodeid for nodeid, judge in judges.items() if judge.parallel_suspect}
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
