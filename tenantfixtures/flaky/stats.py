"""How sure a culprit is: the p-value of "this test is a flake at its observed rate".

A suspect's failure rate is estimated from few rounds, so the null hypothesis takes the rate
anywhere in its 95 % Wilson interval and the p-value is the largest over it: a flake that
happened to fail 2 of 10 rounds may really fail half the time, and must not fake a culprit.
The number of alone and pair runs is chosen from that interval, before running them.
"""

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tenantfixtures.flaky.classify import wilson

ALPHA = 0.01  # culprits are named at 99 % confidence or better
MIN_ALONE = 2
MAX_RUNS = 14
MAX_ALONE = 40  # alone runs share one session: cheap beside a session per run
_GRID = 24


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    @classmethod
    def observed(cls, failures: int, trials: int) -> "Interval":
        low, high = wilson(failures, trials)
        return cls(low, high)

    def points(self) -> Sequence[float]:
        step = (self.high - self.low) / _GRID
        return [self.low + i * step for i in range(_GRID + 1)]


def worst(pvalue: Callable[[float], float], rate: Interval) -> float:
    """The largest p-value over the rate's interval."""
    return max(pvalue(p) for p in rate.points())


def order_pvalue(rate: Interval, alone: int, pairs: int, *, victim: bool) -> float:
    """P(``alone`` runs alone all show the usual outcome and ``pairs`` runs after the culprit
    all show the other one) for a flake: passes then failures (victim), or the reverse."""

    def pvalue(p: float) -> float:
        usual, effect = (1 - p, p) if victim else (p, 1 - p)
        return float(usual**alone * effect**pairs)

    return worst(pvalue, rate)


def collision_pvalue(rate: Interval, alone: int, co_runs: int, failures: int) -> float:
    """P(``alone`` passes alone and at least ``failures`` failures of the test itself in
    ``co_runs`` side-by-side runs) for a flake. Only the test's own failures count: the
    partner's rate, unknown and possibly near 1 (a partner broken anyway), then never weakens
    the test. Misses are allowed: in a one-sided collision only the test that loses the race
    fails."""

    def pvalue(p: float) -> float:
        return (1 - p) ** alone * binomial_tail(co_runs, failures, p)

    return worst(pvalue, rate)


@functools.lru_cache(maxsize=4096)
def binomial_tail(trials: int, successes: int, p: float) -> float:
    """P(at least ``successes`` in ``trials`` draws at ``p``), summed in log space: a co-run
    beside a short test counts thousands of runs, whose binomial coefficients overflow a float.
    Cached: the search for the fewest alone runs asks the same tail again for each count."""
    if successes <= 0 or p >= 1.0:
        return 1.0
    if p <= 0.0 or successes > trials:
        return 0.0
    log_p, log_q, log_all = math.log(p), math.log1p(-p), math.lgamma(trials + 1)
    terms = (
        log_all
        - math.lgamma(k + 1)
        - math.lgamma(trials - k + 1)
        + k * log_p
        + (trials - k) * log_q
        for k in range(successes, trials + 1)
    )
    return min(1.0, math.fsum(math.exp(term) for term in terms))


def fewest_alone(pvalue: Callable[[int], float], target: float) -> int | None:
    """The fewest alone runs (up to ``MAX_ALONE``) bringing ``pvalue`` to ``target``."""
    for alone in range(MIN_ALONE, MAX_ALONE + 1):
        if pvalue(alone) <= target:
            return alone
    return None


def plan(pvalue: Callable[[int, int], float], candidates: int) -> tuple[int, int]:
    """(alone runs, runs per candidate) reaching ``ALPHA / candidates`` at the least cost; the
    alone runs are shared by every candidate. Bonferroni keeps the family at ``ALPHA``."""
    target = ALPHA / max(candidates, 1)
    best: tuple[int, int, int] | None = None
    for alone in range(MIN_ALONE, MAX_RUNS + 1):
        for each in range(1, MAX_RUNS + 1):
            if pvalue(alone, each) <= target:
                cost = alone + candidates * each
                if best is None or cost < best[0]:
                    best = (cost, alone, each)
                break
    return (best[1], best[2]) if best is not None else (MAX_RUNS, MAX_RUNS)


def only_parallel_pvalue(failures: int, parallel: int, rounds: int) -> float:
    """P(all ``failures`` of a flake fall in the ``parallel`` of its ``rounds`` run under
    xdist), its failures landing in rounds at random: how much "fails only under xdist" says
    by itself."""
    return math.comb(parallel, failures) / math.comb(rounds, failures)
