"""The unbiased pass@k estimator against its defining ratio of binomial coefficients."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prereview.stats import mean_pass_at_k, pass_at_k


@given(data=st.data())
def test_pass_at_k_equals_the_exact_combinatorial_value(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=60))
    c = data.draw(st.integers(min_value=0, max_value=n))
    k = data.draw(st.integers(min_value=1, max_value=n))
    exact = 1 - Fraction(comb(n - c, k), comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12)


def test_known_values() -> None:
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(5, 1, 1) == pytest.approx(0.2)
    assert pass_at_k(5, 1, 5) == 1.0
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)  # 1 - C(2,2)/C(4,2)


def test_pass_at_one_is_the_success_fraction() -> None:
    assert pass_at_k(7, 3, 1) == pytest.approx(3 / 7)


def test_mean_over_instances() -> None:
    assert mean_pass_at_k([(4, 2), (4, 0)], 2) == pytest.approx((5 / 6 + 0) / 2)
    assert mean_pass_at_k([], 1) is None


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, 1, 0), (3, 1, 4), (3, -1, 1)])
def test_rejects_impossible_arguments(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="need"):
        pass_at_k(n, c, k)
