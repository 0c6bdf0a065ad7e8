"""The 50%-success difficulty: the fit against statsmodels, the bootstrap against its own seed."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from prereview.stats import difficulty_at_50, fit_logistic


def _simulated(x50: float, slope: float, per_tier: int, seed: int) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    tiers = np.repeat(np.arange(1, 6), per_tier)
    p = 1.0 / (1.0 + np.exp(-slope * (tiers - x50)))
    y = (rng.random(len(tiers)) < p).astype(int)
    return tiers.tolist(), y.tolist()


def test_unpenalized_fit_matches_statsmodels_logit() -> None:
    x, y = _simulated(x50=3.2, slope=-1.5, per_tier=30, seed=7)
    ours = fit_logistic(x, y, penalty=0.0)
    ref = sm.Logit(np.asarray(y), sm.add_constant(np.asarray(x, dtype=float))).fit(disp=0)
    assert ours.intercept == pytest.approx(ref.params[0], rel=1e-7)
    assert ours.slope == pytest.approx(ref.params[1], rel=1e-7)
    assert ours.x50 == pytest.approx(-ref.params[0] / ref.params[1], rel=1e-7)


def test_weights_act_like_repeated_rows() -> None:
    x, y = [1, 2, 2, 3, 4], [1, 1, 0, 0, 0]
    weighted = fit_logistic(x, y, weights=[2, 1, 1, 1, 3])
    repeated = fit_logistic([1, 1, 2, 2, 3, 4, 4, 4], [1, 1, 1, 0, 0, 0, 0, 0])
    assert weighted.intercept == pytest.approx(repeated.intercept, rel=1e-9)
    assert weighted.slope == pytest.approx(repeated.slope, rel=1e-9)


def test_penalty_keeps_perfectly_separated_data_finite_and_centred() -> None:
    fit = fit_logistic([1, 1, 2, 2, 3, 3, 4, 4], [1, 1, 1, 1, 0, 0, 0, 0])
    assert np.isfinite(fit.slope)
    assert fit.slope < 0
    assert fit.x50 == pytest.approx(2.5, abs=1e-9)


def test_fit_needs_both_outcomes() -> None:
    with pytest.raises(ValueError, match="both successes and failures"):
        fit_logistic([1, 2, 3], [1, 1, 1])


def test_recovers_a_known_crossing_point_and_covers_it() -> None:
    x, y = _simulated(x50=3.0, slope=-2.0, per_tier=200, seed=11)
    est = difficulty_at_50(x, y, [str(i) for i in range(len(x))], seed=1, replicates=500)
    assert est.status == "estimated"
    assert est.x50 == pytest.approx(3.0, abs=0.15)
    assert est.low is not None
    assert est.high is not None
    assert est.low < 3.0 < est.high
    assert est.high - est.low < 0.5
    assert not est.extrapolated


def test_bootstrap_is_reproducible_with_a_seed_and_varies_without() -> None:
    x, y = _simulated(x50=2.5, slope=-1.2, per_tier=8, seed=3)
    clusters = [f"inst-{i}" for i in range(len(x))]
    first = difficulty_at_50(x, y, clusters, seed=42, replicates=300)
    again = difficulty_at_50(x, y, clusters, seed=42, replicates=300)
    other = difficulty_at_50(x, y, clusters, seed=43, replicates=300)
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert first.x50 == other.x50  # the point estimate does not depend on the seed


def test_clusters_widen_the_interval_of_repeated_attempts() -> None:
    """Ten attempts on each of few instances carry less information than as many instances."""
    x, y = _simulated(x50=3.0, slope=-1.5, per_tier=4, seed=5)
    x10, y10 = np.repeat(x, 10).tolist(), np.repeat(y, 10).tolist()
    per_instance = [f"i{i}" for i in range(len(x)) for _ in range(10)]
    per_attempt = [str(i) for i in range(len(x10))]
    clustered = difficulty_at_50(x10, y10, per_instance, seed=0, replicates=400)
    naive = difficulty_at_50(x10, y10, per_attempt, seed=0, replicates=400)
    assert clustered.x50 == pytest.approx(naive.x50)
    assert clustered.low is not None
    assert clustered.high is not None
    assert naive.low is not None
    assert naive.high is not None
    assert clustered.high - clustered.low > naive.high - naive.low


@pytest.mark.parametrize(
    ("y", "status"),
    [
        ([1, 1, 1, 1], "above_range"),
        ([0, 0, 0, 0], "below_range"),
        ([0, 0, 1, 1], "not_decreasing"),
    ],
)
def test_degenerate_outcomes_say_why_there_is_no_number(y: list[int], status: str) -> None:
    est = difficulty_at_50([1, 2, 3, 4], y, ["a", "b", "c", "d"], seed=0, replicates=50)
    assert est.status == status
    assert est.x50 is None
    assert est.low is None
    assert est.high is None


def test_no_data() -> None:
    est = difficulty_at_50([], [], [], seed=0)
    assert est.status == "no_data"
    assert est.attempts == 0


def test_extrapolated_when_the_crossing_lies_beyond_the_tested_range() -> None:
    # success falls with tier but stays above one half up to the hardest tier tested
    x = [1] * 10 + [2] * 10 + [3] * 10
    y = [1] * 10 + [1] * 9 + [0] + [1] * 8 + [0] * 2
    est = difficulty_at_50(x, y, [str(i) for i in range(30)], seed=0, replicates=200)
    assert est.status == "estimated"
    assert est.x50 is not None
    assert est.x50 > 3
    assert est.extrapolated
    assert est.high == float("inf")  # some resamples hold no failure at all
