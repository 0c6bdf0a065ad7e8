"""Intervals for success rates and for the difference between two of them.

Wilson's score interval keeps good coverage at the small n and the rates near 0 or 1 that
capability evaluations produce (a Wald interval collapses to zero width at 0/n). Newcombe's hybrid
score interval (his method 10) builds the interval of a difference from the two Wilson intervals,
so "within error" means the same thing in every table of a report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def z_for(confidence: float) -> float:
    """The two-sided standard normal quantile for a confidence level such as 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval; `estimate` is None when there is nothing to estimate."""

    estimate: float | None
    low: float
    high: float
    confidence: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for `successes` out of `n`; with n = 0 it is the whole of [0, 1]."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Interval(None, 0.0, 1.0, confidence)
    z = z_for(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    # at 0/n and n/n the bound is exactly 0 or 1; floating point may miss it by an ulp
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(p, low, high, confidence)


@dataclass(frozen=True)
class RateDifference:
    """Rate a minus rate b, with its interval; `within_error` when the interval holds zero."""

    difference: float | None
    low: float
    high: float
    confidence: float

    @property
    def within_error(self) -> bool:
        return self.difference is None or self.low <= 0.0 <= self.high


def newcombe_difference(
    successes_a: int, n_a: int, successes_b: int, n_b: int, confidence: float = 0.95
) -> RateDifference:
    """Newcombe's hybrid score interval for p_a - p_b from two independent samples."""
    a = wilson_interval(successes_a, n_a, confidence)
    b = wilson_interval(successes_b, n_b, confidence)
    if a.estimate is None or b.estimate is None:
        return RateDifference(None, -1.0, 1.0, confidence)
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return RateDifference(d, max(-1.0, low), min(1.0, high), confidence)
