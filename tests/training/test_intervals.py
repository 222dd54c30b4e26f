"""Conformal recalibration of the p10-p90 days-late interval: too narrow or too wide
intervals come back to 80 % coverage on fresh data, and the adjusted ends stay ordered
and inside the horizon."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kernel.errors import InsufficientDataError, InvalidRequestError
from training.intervals import IntervalAdjustment, coverage, fit_interval_adjustment
from training.metrics import days_late_metrics

HORIZON = 90


def _ledger(seed: int, n: int, *, width: float, whole_days: bool = True) -> tuple[np.ndarray, ...]:
    """Skewed, heteroscedastic days late and (p10, p50, p90) scaled by `width` around p50.

    Days late = 2 + scale(x) * (gamma(2) - 2): mostly near the due date, a long late tail,
    spread growing with x. `width` 1 gives the true quantiles; below 1, too narrow.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    scale = 2 + 12 * x
    y = np.minimum(2 + scale * (rng.gamma(2.0, 1.0, n) - 2.0), HORIZON)
    if whole_days:
        y = np.round(y)
    q10, q50, q90 = (2 + scale * (stats.gamma.ppf(q, 2.0) - 2.0) for q in (0.1, 0.5, 0.9))
    return y, q50 - width * (q50 - q10), q50, q50 + width * (q90 - q50)


@pytest.mark.parametrize("whole_days", [True, False])
def test_too_narrow_interval_is_widened_to_nominal_on_fresh_data(whole_days: bool) -> None:
    y, p10, _, p90 = _ledger(0, 4000, width=0.65, whole_days=whole_days)
    assert 0.55 <= coverage(p10, p90, y, whole_days=whole_days) <= 0.66
    adjustment = fit_interval_adjustment(p10, p90, y, whole_days=whole_days)
    assert adjustment.low_shift > 0 and adjustment.high_shift > 0
    y_new, p10_new, p50_new, p90_new = _ledger(1, 20_000, width=0.65, whole_days=whole_days)
    low, _, high = adjustment.apply(p10_new, p50_new, p90_new)
    assert abs(coverage(low, high, y_new, whole_days=whole_days) - 0.80) <= 0.03


def test_too_wide_interval_is_narrowed() -> None:
    y, p10, _, p90 = _ledger(2, 4000, width=1.8)
    assert coverage(p10, p90, y) > 0.9
    adjustment = fit_interval_adjustment(p10, p90, y)
    assert adjustment.low_shift < 0 and adjustment.high_shift < 0
    y_new, p10_new, p50_new, p90_new = _ledger(3, 20_000, width=1.8)
    low, _, high = adjustment.apply(p10_new, p50_new, p90_new)
    assert np.all(high - low <= p90_new - p10_new)
    assert abs(coverage(low, high, y_new) - 0.80) <= 0.03


def test_each_tail_is_shifted_on_its_own() -> None:
    # Only the upper end is too low: the lower end must barely move.
    y, p10, p50, p90 = _ledger(4, 4000, width=1.0)
    adjustment = fit_interval_adjustment(p10, p50 + 0.4 * (p90 - p50), y)
    assert abs(adjustment.low_shift) < 1.0 < adjustment.high_shift


def test_apply_keeps_order_and_cap() -> None:
    p10, p50, p90 = np.array([-5.0, 40, 85]), np.array([0.0, 60, 89]), np.array([4.0, 80, 95])
    low, mid, high = IntervalAdjustment(3.0, 20.0).apply(p10, p50, p90, cap=HORIZON)
    assert np.all(high <= HORIZON) and np.all(mid <= HORIZON) and np.all(low <= HORIZON)
    assert np.all(low <= mid) and np.all(mid <= high)
    assert high.tolist() == [24.0, 90.0, 90.0]
    # Narrowing past the median stops at the median.
    low, mid, high = IntervalAdjustment(-10.0, -30.0).apply(p10, p50, p90)
    assert np.all(low <= mid) and np.all(mid <= high)
    assert low.tolist() == [0.0, 50.0, 89.0] and high.tolist() == [0.0, 60.0, 89.0]


def test_coverage_agrees_with_days_late_metrics() -> None:
    y, p10, p50, p90 = _ledger(5, 500, width=0.8)
    expected = days_late_metrics(y, p50, p10=p10, p90=p90)["interval_coverage"]
    assert coverage(p10, p90, y) == pytest.approx(expected, abs=1e-6)


def test_round_trip_through_dict() -> None:
    adjustment = IntervalAdjustment(1.5, -2.0, 0.8)
    assert IntervalAdjustment.from_dict(adjustment.to_dict()) == adjustment
    with pytest.raises(InvalidRequestError, match="low_shift"):
        IntervalAdjustment.from_dict({"low_shift": 1.0})


def test_bad_input_raises_clear_errors() -> None:
    with pytest.raises(InsufficientDataError, match="at least one row"):
        fit_interval_adjustment([], [], [])
    with pytest.raises(InsufficientDataError, match="at least one row"):
        coverage([], [], [])
    with pytest.raises(InsufficientDataError, match="at least 9"):
        fit_interval_adjustment(np.zeros(5), np.ones(5), np.ones(5))
    with pytest.raises(InvalidRequestError, match="one value per row"):
        fit_interval_adjustment(np.zeros(20), np.ones(19), np.ones(20))
    with pytest.raises(InvalidRequestError, match="whole days"):
        fit_interval_adjustment(np.zeros(20), np.ones(20), np.full(20, 0.5))
    with pytest.raises(InvalidRequestError, match="nominal"):
        fit_interval_adjustment(np.zeros(20), np.ones(20), np.ones(20), nominal=1.2)
