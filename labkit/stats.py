"""How sure a measured rate is: Wilson intervals for one rate, a paired bootstrap for the gap between two.

A rate measured on ``n`` questions is an estimate; the kit reports it with a 95% interval, and says that
one rung beats another only when the interval of their difference, measured on the same questions,
excludes zero.

>>> low, high = wilson(11, 20)
>>> f"{11 / 20:.0%} [{low:.0%}, {high:.0%}]"
'55% [34%, 74%]'
>>> gap = paired_bootstrap([1, 1, 1, 0, 1, 1], [0, 0, 1, 0, 0, 0], random.Random(0))
>>> round(gap.difference, 2), gap.n, gap.separates
(0.67, 6, True)
>>> paired_bootstrap([1, 0, 1, 0], [0, 1, 1, 0], random.Random(0)).separates
False
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

from labkit.errors import LabkitError


@dataclass(frozen=True)
class IntervalConfig:
    """The confidence of every interval the kit reports, and how many resamples a bootstrap draws."""

    z: float = 1.959964  # the normal quantile of a two-sided 95% interval
    resamples: int = 2000


def wilson(successes: int, n: int, config: IntervalConfig = IntervalConfig()) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (good at small ``n`` and at 0% or 100%,
    where the plain ``p ± 2 se`` collapses to a point).

    >>> wilson(0, 8)[1] > 0.3, wilson(8, 8)[0] < 0.7
    (True, True)
    """
    if n <= 0:
        raise LabkitError(f"a rate needs at least one trial, got n = {n}", "score at least one question")
    if not 0 <= successes <= n:
        raise LabkitError(f"{successes} successes out of {n} trials", "count successes among the n trials")
    p, z2 = successes / n, config.z ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = config.z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends (rounding would leave 1e-17)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return min(low, p), max(high, p)


def rate_interval(rate: float, n: int, config: IntervalConfig = IntervalConfig()) -> tuple[float, float]:
    """:func:`wilson` for a rate stored as a fraction of ``n`` (the count is recovered by rounding)."""
    return wilson(round(rate * n), n, config)


def describe_rate(outcomes: Sequence[bool] | float, n: int | None = None) -> str:
    """A share of 0/1 ``outcomes`` in words: the percentage, its 95% Wilson interval and ``n``. A rate that is
    already a fraction (a score's ``accuracy``) passes its ``n`` beside it.

    >>> describe_rate([True] * 11 + [False] * 9), describe_rate(0.55, n=20)
    ('55% [34-74] of 20', '55% [34-74] of 20')
    """
    if n is None:
        n, rate = len(outcomes), sum(map(bool, outcomes)) / len(outcomes)
    else:
        rate = outcomes
    low, high = rate_interval(rate, n)
    return f"{rate:.0%} [{100 * low:.0f}-{100 * high:.0f}] of {n}"


@dataclass(frozen=True)
class Difference:
    """The paired difference ``a - b`` of two rates measured on the same ``n`` questions, with its
    bootstrap interval."""

    difference: float
    low: float
    high: float
    n: int

    @property
    def separates(self) -> bool:
        """True when the interval excludes zero: the two rates can be told apart at this ``n``."""
        return self.low > 0 or self.high < 0

    def describe(self, a: str = "a", b: str = "b") -> str:
        """In words, with the interval.

        >>> print(Difference(0.15, 0.03, 0.28, 60).describe("both", "rag"))
        both beats rag by +15 points (95% paired interval +3 to +28, n = 60)
        >>> print(Difference(0.05, -0.08, 0.17, 60).describe("both", "rag"))
        both and rag are not distinguishable at n = 60 (+5 points, 95% paired interval -8 to +17)
        >>> print(Difference(-0.55, -0.75, -0.35, 20).describe("ft", "rag"))  # the winner first, its interval too
        rag beats ft by +55 points (95% paired interval +35 to +75, n = 20)
        """
        if not self.separates:
            return (f"{a} and {b} are not distinguishable at n = {self.n} "
                    f"({100 * self.difference:+.0f} points, 95% paired interval {100 * self.low:+.0f} to "
                    f"{100 * self.high:+.0f})")
        better, worse, low, high = (a, b, self.low, self.high) if self.difference > 0 else (b, a, -self.high, -self.low)
        return (f"{better} beats {worse} by {100 * abs(self.difference):+.0f} points "
                f"(95% paired interval {100 * low:+.0f} to {100 * high:+.0f}, n = {self.n})")


def paired_bootstrap(a: Sequence[int], b: Sequence[int], rng: random.Random,
                     config: IntervalConfig = IntervalConfig()) -> Difference:
    """The difference of the means of ``a`` and ``b`` (0/1 outcomes on the same questions, in the same
    order) and its percentile bootstrap interval: questions are resampled with ``rng``, each keeping its
    pair of outcomes, so what both rungs got right or wrong together does not widen the interval."""
    if len(a) != len(b) or not a:
        raise LabkitError(f"paired outcomes must be on the same questions: got {len(a)} and {len(b)}",
                          "score both rungs on the same question set (the same sample and seed)")
    n = len(a)
    gaps = [x - y for x, y in zip(a, b)]
    draws = sorted(sum(gaps[rng.randrange(n)] for _ in range(n)) / n for _ in range(config.resamples))
    tail = (1 - _coverage(config.z)) / 2
    low = draws[int(math.floor(tail * (config.resamples - 1)))]
    high = draws[int(math.ceil((1 - tail) * (config.resamples - 1)))]
    return Difference(sum(gaps) / n, low, high, n)


def _coverage(z: float) -> float:
    """The two-sided coverage of the normal quantile ``z`` (0.95 for 1.96)."""
    return math.erf(z / math.sqrt(2))
