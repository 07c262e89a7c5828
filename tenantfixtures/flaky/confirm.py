"""Confirms what the nightly rounds suggest, by targeted reruns (the iDFlakies/iPFlakies recipe).

- fails in every round and alone: broken;
- fails only under xdist, passes alone: paired on two workers with the tests that overlapped its
  failures; a pair that fails again names the partner (parallel-only);
- fails in some orders, passes alone: the polluter is the test whose presence earlier in the
  order matches its failures, confirmed by a pair run, else found by bisecting a failing prefix;
  fails alone but passes in some orders: the same search for the state-setter;
- anything that does not reproduce that way is flaky.
"""

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from tenantfixtures.flaky.runner import Attempt, Prober

ALONE_RUNS = 2
PAIR_RUNS = 2
MAX_CANDIDATES = 3
COLLISION_RUNS = 3  # co-runs are cheap to fake by chance: a flake at p fails all with p**3
MAX_RETRIES = 2  # extra co-runs allowed when the two tests did not overlap in time


@dataclass
class Verdict:
    nodeid: str
    classification: str
    evidence: str
    culprits: list[str] = field(default_factory=list)


@dataclass
class Rounds:
    """The rounds' first attempts, indexed for the questions confirmation asks."""

    attempts: list[Attempt]
    parallel_runs: set[str]

    def of(self, nodeid: str) -> list[Attempt]:
        return [a for a in self.attempts if a.nodeid == nodeid]

    def prefix(self, attempt: Attempt) -> list[str]:
        """Tests that ran before ``attempt`` in the same process (worker) of the same run."""
        same = [
            a
            for a in self.attempts
            if a.run_id == attempt.run_id
            and a.worker == attempt.worker
            and a.position < attempt.position
        ]
        return [a.nodeid for a in sorted(same, key=lambda a: a.position)]

    def overlap(self, attempt: Attempt) -> dict[str, float]:
        """Seconds each test on another worker ran while ``attempt`` ran."""
        return {
            a.nodeid: min(a.stop, attempt.stop) - max(a.start, attempt.start)
            for a in self.attempts
            if a.run_id == attempt.run_id
            and a.worker != attempt.worker
            and a.start < attempt.stop
            and attempt.start < a.stop
        }


class Confirmer:
    def __init__(self, rounds: Rounds, prober: Prober, log: Callable[[str], None]) -> None:
        self.rounds = rounds
        self.prober = prober
        self.log = log

    def _alone_failures(self, nodeid: str) -> int:
        """Failures in ALONE_RUNS sessions running only this test (one test per session:
        pytest items are not re-runnable within a session)."""
        return sum(self.prober.fails([nodeid], nodeid) for _ in range(ALONE_RUNS))

    def judge(self, nodeid: str) -> Verdict:
        history = self.rounds.of(nodeid)
        failed = [a for a in history if a.failed]
        serial_failed = [a for a in failed if a.run_id not in self.rounds.parallel_runs]
        self.log(f"  confirming {nodeid} ({len(failed)}/{len(history)} rounds failed)")
        alone = self._alone_failures(nodeid)
        if len(failed) == len(history) and alone == ALONE_RUNS:
            return Verdict(
                nodeid, "broken", f"failed all {len(history)} rounds and {alone}/{alone} alone"
            )
        if 0 < alone < ALONE_RUNS:
            return Verdict(nodeid, "flaky", f"{alone}/{ALONE_RUNS} runs alone failed")
        if alone == 0 and not serial_failed:
            verdict = self._parallel(nodeid, history, failed)
            if verdict is not None:
                return verdict
            # No collision reproduces: a polluter may have run earlier on the same worker.
        return self._order(nodeid, history, victim=alone == 0)

    # -- parallel-only ------------------------------------------------------------------------
    def _parallel(
        self, nodeid: str, history: list[Attempt], failed: list[Attempt]
    ) -> Verdict | None:
        partners = self._partners(history, failed)
        self.log(f"    overlapped its failures: {', '.join(partners) or 'none'}")
        confirmed = [partner for partner in partners if self._collides(nodeid, partner)]
        if confirmed:
            return Verdict(
                nodeid,
                "parallel-only",
                f"failed {len(failed)}/{len(history)} rounds, only under xdist; passes alone; "
                f"{COLLISION_RUNS}/{COLLISION_RUNS} co-runs beside {confirmed[0]} failed",
                confirmed,
            )
        return None

    def _partners(self, history: list[Attempt], failed: list[Attempt]) -> list[str]:
        """Tests that overlapped the failures longer than they overlapped passing attempts
        under xdist, longest first: a partner that ran beside it harmlessly is no suspect."""
        during_failures: Counter[str] = Counter()
        for attempt in failed:
            during_failures.update(self.rounds.overlap(attempt))
        during_passes: Counter[str] = Counter()
        for attempt in history:
            if not attempt.failed and attempt.run_id in self.rounds.parallel_runs:
                during_passes.update(self.rounds.overlap(attempt))
        ranked = during_failures.most_common()
        return [name for name, seconds in ranked if seconds > during_passes[name]][:MAX_CANDIDATES]

    def _collides(self, nodeid: str, partner: str) -> bool:
        """Side by side, the pair fails every time, and this test at least once.

        Collisions are often one-sided (whoever reads second loses), so the test itself need
        not fail each time; a random flake beside a stable test fails all co-runs only with
        probability p**COLLISION_RUNS.
        """
        # A partner that fails serially anyway (broken, brittle) proves nothing by failing.
        partner_solo = any(
            a.failed for a in self.rounds.of(partner) if a.run_id not in self.rounds.parallel_runs
        )
        overlapped = own_failures = 0
        for _ in range(COLLISION_RUNS + MAX_RETRIES):
            result = self.prober.fails_beside(nodeid, partner)
            shown = "did not overlap" if result is None else _pair_outcome(*result)
            self.log(f"    beside {partner}: {shown}")
            if result is None:
                continue
            mine, theirs = result
            if not (mine or (theirs and not partner_solo)):
                return False
            overlapped += 1
            own_failures += mine
            if overlapped == COLLISION_RUNS:
                return own_failures > 0
        return False

    # -- order-dependent ----------------------------------------------------------------------
    def _order(self, nodeid: str, history: list[Attempt], *, victim: bool) -> Verdict:
        """Victim: find the polluter (pair fails). Brittle: find the state-setter (pair passes)."""
        wanted = victim  # the outcome the culprit causes: failure for a victim, pass for brittle
        culprit = self._from_history(nodeid, history, wanted) or self._bisect(
            nodeid, history, wanted
        )
        role = "polluter" if victim else "state-setter"
        if culprit is None:
            alone = "passes" if victim else "fails"
            return Verdict(
                nodeid,
                "flaky",
                f"{alone} alone; no {role} (nor, under xdist, a colliding test) reproduces "
                "its failures",
            )
        effect = "fails after it" if victim else "passes only after it"
        return Verdict(
            nodeid,
            "order-dependent",
            f"{'passes' if victim else 'fails'} alone ({ALONE_RUNS}x), {effect} "
            f"({PAIR_RUNS}/{PAIR_RUNS} sessions): {role} {culprit}",
            [culprit],
        )

    def _pair_causes(self, culprit: str, nodeid: str, wanted: bool) -> bool:
        """Right after ``culprit`` the test shows the outcome it does not show alone, every time."""
        return all(self.prober.fails([culprit, nodeid], nodeid) == wanted for _ in range(PAIR_RUNS))

    def _from_history(self, nodeid: str, history: list[Attempt], wanted: bool) -> str | None:
        """Tests whose being earlier in the order matches the outcome in every round."""
        before: dict[str, list[bool]] = defaultdict(list)
        prefixes = [(set(self.rounds.prefix(a)), a.failed) for a in history]
        for other in {n for prefix, _ in prefixes for n in prefix}:
            before[other] = [other in prefix for prefix, _ in prefixes]
        outcomes = [failed == wanted for _, failed in prefixes]
        candidates = sorted(other for other, flags in before.items() if flags == outcomes)
        for candidate in candidates[:MAX_CANDIDATES]:
            if self._pair_causes(candidate, nodeid, wanted):
                return candidate
        return None

    def _bisect(self, nodeid: str, history: list[Attempt], wanted: bool) -> str | None:
        """Halve a prefix that produced the outcome until one test is left (or none works)."""
        showing = [a for a in history if a.failed == wanted and self.rounds.prefix(a)]
        if not showing:
            return None
        prefix = self.rounds.prefix(showing[0])
        if self.prober.fails([*prefix, nodeid], nodeid) != wanted:
            return None
        while len(prefix) > 1:
            half = len(prefix) // 2
            for part in (prefix[:half], prefix[half:]):
                if self.prober.fails([*part, nodeid], nodeid) == wanted:
                    prefix = part
                    break
            else:
                return None  # needs tests from both halves: not a single culprit
        return prefix[0] if self._pair_causes(prefix[0], nodeid, wanted) else None


def _pair_outcome(mine: bool, theirs: bool) -> str:
    return {
        (True, True): "both failed",
        (True, False): "it failed",
        (False, True): "the partner failed",
        (False, False): "both passed",
    }[(mine, theirs)]
