"""Wilson and Newcombe intervals against published values and statsmodels (an independent code)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from prereview.stats import newcombe_difference, wilson_interval, z_for

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857,
# Table II, method 3 (Wilson score, no continuity correction), 95%.
PUBLISHED_WILSON = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]

# Newcombe (1998), "Interval estimation for the difference between independent proportions",
# Stat Med 17:873, Table II, method 10 (hybrid score), 95%.
PUBLISHED_NEWCOMBE = [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
]


@pytest.mark.parametrize(("s", "n", "low", "high"), PUBLISHED_WILSON)
def test_wilson_matches_published_table(s: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(s, n)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)
    assert interval.estimate == pytest.approx(s / n)


@given(
    n=st.integers(min_value=1, max_value=400),
    frac=st.floats(min_value=0, max_value=1),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_wilson_matches_statsmodels(n: int, frac: float, confidence: float) -> None:
    s = round(frac * n)
    ours = wilson_interval(s, n, confidence)
    low, high = proportion_confint(s, n, alpha=1 - confidence, method="wilson")
    assert ours.low == pytest.approx(low, abs=1e-12)
    assert ours.high == pytest.approx(high, abs=1e-12)
    assert ours.low <= s / n <= ours.high


def test_wilson_with_no_data_is_the_unit_interval() -> None:
    interval = wilson_interval(0, 0)
    assert interval.estimate is None
    assert (interval.low, interval.high) == (0.0, 1.0)


@pytest.mark.parametrize(("s", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_rejects_impossible_counts(s: int, n: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(s, n)


def test_z_for_ninety_five_percent() -> None:
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError, match="confidence"):
        z_for(1.0)


@pytest.mark.parametrize(("a", "na", "b", "nb", "low", "high"), PUBLISHED_NEWCOMBE)
def test_newcombe_matches_published_table(
    a: int, na: int, b: int, nb: int, low: float, high: float
) -> None:
    diff = newcombe_difference(a, na, b, nb)
    assert diff.low == pytest.approx(low, abs=5e-5)
    assert diff.high == pytest.approx(high, abs=5e-5)
    assert not diff.within_error


@given(
    na=st.integers(min_value=1, max_value=200),
    nb=st.integers(min_value=1, max_value=200),
    fa=st.floats(min_value=0, max_value=1),
    fb=st.floats(min_value=0, max_value=1),
)
def test_newcombe_matches_statsmodels(na: int, nb: int, fa: float, fb: float) -> None:
    a, b = round(fa * na), round(fb * nb)
    ours = newcombe_difference(a, na, b, nb)
    low, high = confint_proportions_2indep(a, na, b, nb, method="newcomb", compare="diff")
    assert ours.low == pytest.approx(float(low), abs=1e-9)
    assert ours.high == pytest.approx(float(high), abs=1e-9)


def test_small_differences_are_within_error() -> None:
    assert newcombe_difference(6, 10, 5, 10).within_error
    assert newcombe_difference(3, 10, 0, 0).within_error  # nothing to compare against
