"""The shrunk customer-history offset: shrinkage, cold start, serving row, round trip."""

from __future__ import annotations

import json
import math
from functools import lru_cache

import numpy as np
import pytest

from features.feature import FeatureSpecError
from training.offsets import HistoryOffset, fit_history_offset

NAMES = ["amount", "history_settled_count", "history_days_late_mean", "history_default_share"]


@lru_cache(maxsize=4)
def _ledger(*, seed: int, customers: int = 80, invoices: int = 30) -> tuple[np.ndarray, ...]:
    """Rows in invoice order per customer: history columns from strictly earlier invoices.

    Customers differ (sd 8 days) and invoices vary around them (sd 10 days), so the
    right shrinkage lies strictly between "ignore history" and "trust one invoice".
    """
    rng = np.random.default_rng(seed)
    rows, days, defaults = [], [], []
    for _ in range(customers):
        mu = rng.normal(5.0, 8.0)
        rate = rng.beta(1.0, 12.0)
        past_days: list[float] = []
        past_defaults: list[float] = []
        for _ in range(invoices):
            n = len(past_days)
            mean = float(np.mean(past_days)) if n else math.nan
            share = float(np.mean(past_defaults)) if n else math.nan
            rows.append([rng.uniform(100, 1000), n, mean, share])
            d = rng.normal(mu, 10.0)
            z = float(rng.random() < rate)
            days.append(d)
            defaults.append(z)
            past_days.append(d)
            past_defaults.append(z)
    return np.array(rows), np.array(days), np.array(defaults)


def test_fitted_strength_is_between_no_shrinkage_and_prior_only() -> None:
    X, days, _ = _ledger(seed=0)
    offset = fit_history_offset(X, days, feature_names=NAMES, kind="days")
    # Theory for these data: k = within / between variance = 100 / 64, about 1.6.
    assert 0.3 <= offset.strength <= 8.0
    assert offset.prior == pytest.approx(float(np.mean(days)))
    mse = np.mean((offset.values(X) - days) ** 2)
    assert mse < np.mean((offset.prior - days) ** 2)


def test_customer_with_long_history_gets_close_to_its_own_mean() -> None:
    offset = HistoryOffset("days", mean_column=2, count_column=1, prior=5.0, strength=2.0)
    x = np.array([[500.0, 200.0, 30.0, 0.0]])
    assert offset.values(x)[0] == pytest.approx(30.0, abs=0.5)
    # ...and one with a single invoice stays nearer the prior.
    x1 = np.array([[500.0, 1.0, 30.0, 0.0]])
    assert abs(offset.values(x1)[0] - 5.0) < abs(offset.values(x1)[0] - 30.0)


@pytest.mark.parametrize("kind", ["days", "logit"])
def test_new_customer_and_nan_mean_get_the_prior(kind: str) -> None:
    X, days, defaults = _ledger(seed=1)
    y = days if kind == "days" else defaults
    offset = fit_history_offset(X, y, feature_names=NAMES, kind=kind)
    new = np.array([[500.0, 0.0, math.nan, math.nan], [500.0, 3.0, math.nan, math.nan]])
    expected = offset.prior if kind == "days" else math.log(offset.prior / (1 - offset.prior))
    np.testing.assert_allclose(offset.values(new), [expected, expected])


def test_logit_offset_is_finite_for_a_ledger_without_defaults() -> None:
    X, _, _ = _ledger(seed=2)
    offset = fit_history_offset(
        X, np.zeros(len(X)), feature_names=NAMES, kind="logit", strength=5.0
    )
    values = offset.values(X)
    assert np.all(np.isfinite(values))
    assert values.max() < 0


def test_logit_offset_orders_customers_by_default_share() -> None:
    offset = HistoryOffset("logit", mean_column=3, count_column=1, prior=0.05, strength=4.0)
    X = np.array([[1.0, 40.0, 0.0, 0.0], [1.0, 40.0, 0.0, 0.1], [1.0, 40.0, 0.0, 0.9]])
    values = offset.values(X)
    assert values[0] < values[1] < values[2]
    rate = (40 * 0.1 + 4 * 0.05) / 44
    assert values[1] == pytest.approx(math.log(rate / (1 - rate)))


@pytest.mark.parametrize("kind", ["days", "logit"])
def test_value_row_equals_values(kind: str) -> None:
    X, days, defaults = _ledger(seed=3)
    offset = fit_history_offset(
        X, days if kind == "days" else defaults, feature_names=NAMES, kind=kind
    )
    batch = offset.values(X)
    rows = [offset.value_row(X[i : i + 1]) for i in range(0, len(X), 37)]
    np.testing.assert_allclose(rows, batch[::37], rtol=1e-12, atol=1e-12)
    assert all(isinstance(v, float) for v in rows)


def test_round_trip_through_json() -> None:
    X, _, defaults = _ledger(seed=4)
    offset = fit_history_offset(X, defaults, feature_names=NAMES, kind="logit")
    again = HistoryOffset.from_dict(json.loads(json.dumps(offset.to_dict())))
    assert again == offset
    np.testing.assert_array_equal(again.values(X), offset.values(X))


def test_given_strength_is_kept() -> None:
    X, days, _ = _ledger(seed=0)
    assert (
        fit_history_offset(X, days, feature_names=NAMES, kind="days", strength=7.0).strength == 7.0
    )


def test_bad_inputs_say_what_is_wrong() -> None:
    X, days, _ = _ledger(seed=0)
    with pytest.raises(FeatureSpecError, match="history_days_late_mean"):
        fit_history_offset(X[:, :2], days, feature_names=NAMES[:2], kind="days")
    with pytest.raises(ValueError, match="offset kind"):
        fit_history_offset(X, days, feature_names=NAMES, kind="hazard")
    with pytest.raises(ValueError, match="strength"):
        HistoryOffset("days", mean_column=2, count_column=1, prior=0.0, strength=-1.0)
