"""Statistics for capability reports: pure functions, no I/O, every random draw seeded.

Intervals on success rates (Wilson), differences between two rates (Newcombe), the unbiased
pass@k estimator, and the difficulty at which a model succeeds half the time (a logistic fit with
a cluster bootstrap, in the spirit of METR's time horizon).
"""

from prereview.stats.difficulty import DifficultyEstimate, difficulty_at_50, fit_logistic
from prereview.stats.pass_at_k import mean_pass_at_k, pass_at_k
from prereview.stats.proportions import (
    Interval,
    RateDifference,
    newcombe_difference,
    wilson_interval,
    z_for,
)

__all__ = [
    "DifficultyEstimate",
    "Interval",
    "RateDifference",
    "difficulty_at_50",
    "fit_logistic",
    "mean_pass_at_k",
    "newcombe_difference",
    "pass_at_k",
    "wilson_interval",
    "z_for",
]
