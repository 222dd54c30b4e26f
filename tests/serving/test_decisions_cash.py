"""Cash forecast: the payment-date CDF, weekly sums that add up, intervals, stale invoices."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.decisions import OpenInvoice, PolicySettings, cash_forecast, payment_cdf

POLICY = PolicySettings.defaults()
TODAY = dt.date(2026, 11, 25)


def _inv(k: int, *, due_in: int, amount: float, p: float, q: tuple[float, float, float]):
    return OpenInvoice(
        invoice_id=f"i{k}",
        customer_id=f"c{k % 3}",
        due_date=TODAY + dt.timedelta(days=due_in),
        open_amount=amount,
        p_default=p,
        days_late=q[1],
        days_late_p10=q[0],
        days_late_p50=q[1],
        days_late_p90=q[2],
    )


def test_cdf_goes_through_the_quantiles():
    kw = dict(p10=-2.0, p50=5.0, p90=30.0)
    assert payment_cdf(-2.0, **kw) == pytest.approx(0.1)
    assert payment_cdf(5.0, **kw) == pytest.approx(0.5)
    assert payment_cdf(30.0, **kw) == pytest.approx(0.9)
    assert payment_cdf(17.5, **kw) == pytest.approx(0.7)  # linear between p50 and p90
    assert payment_cdf(-100.0, **kw) == 0.0
    assert payment_cdf(100.0, **kw) == 1.0


@given(
    q=st.lists(st.floats(-60, 200), min_size=3, max_size=3),
    xs=st.tuples(st.floats(-400, 400), st.floats(-400, 400)),
)
def test_cdf_is_a_cdf(q, xs):
    p10, p50, p90 = q
    lo, hi = sorted(xs)
    a = payment_cdf(lo, p10=p10, p50=p50, p90=p90)
    b = payment_cdf(hi, p10=p10, p50=p50, p90=p90)
    assert 0.0 <= a <= b <= 1.0 + 1e-12


def test_point_prediction_lands_in_its_week():
    inv = _inv(0, due_in=10, amount=1_000, p=0.0, q=(0.0, 0.0, 0.0))
    fc = cash_forecast([inv], as_of=TODAY, policy=POLICY, weeks=4)
    assert [round(w.expected) for w in fc.weeks] == [0, 1_000, 0, 0]
    assert fc.weeks[1].week_start == TODAY + dt.timedelta(days=7)
    assert fc.weeks[1].week_end == TODAY + dt.timedelta(days=13)


def test_default_probability_scales_collections():
    inv = _inv(0, due_in=3, amount=1_000, p=0.25, q=(0.0, 2.0, 8.0))
    fc = cash_forecast([inv], as_of=TODAY, policy=POLICY)
    assert fc.expected_total == pytest.approx(750)
    assert fc.expected_loss == pytest.approx(250)
    assert sum(w.expected for w in fc.weeks) + fc.later == pytest.approx(750)
    assert fc.notes == ()


def test_missing_probability_counts_as_collected_with_a_note():
    inv = dataclasses.replace(
        _inv(0, due_in=3, amount=1_000, p=0.0, q=(0, 2, 8)), p_default=math.nan
    )
    fc = cash_forecast([inv], as_of=TODAY, policy=POLICY)
    assert fc.expected_total == pytest.approx(1_000)
    assert fc.notes and "no default model" in fc.notes[0]


def test_stale_invoice_is_expected_from_today_not_lost():
    # 200 days overdue, predicted paid 0..30 days late: the whole range is past.
    inv = _inv(0, due_in=-200, amount=1_000, p=0.5, q=(0.0, 10.0, 30.0))
    fc = cash_forecast([inv], as_of=TODAY, policy=POLICY)
    assert sum(w.expected for w in fc.weeks) == pytest.approx(500)
    assert fc.weeks[0].expected > 0


def test_open_invoice_is_conditioned_on_not_paid_yet():
    # Due 10 days ago, median 10 days late: half the mass is past, the rest is ahead.
    inv = _inv(0, due_in=-10, amount=1_000, p=0.0, q=(0.0, 10.0, 20.0))
    fc = cash_forecast([inv], as_of=TODAY, policy=POLICY)
    assert sum(w.expected for w in fc.weeks[:2]) == pytest.approx(1_000, rel=1e-6)


def test_intervals_bracket_the_expectation():
    invs = [_inv(k, due_in=k % 20, amount=500 + 50 * k, p=0.05, q=(-3, 5, 25)) for k in range(40)]
    fc = cash_forecast(invs, as_of=TODAY, policy=POLICY)
    assert len(fc.weeks) == POLICY.cash_weeks
    for w in fc.weeks:
        assert 0.0 <= w.low <= w.expected <= w.high
    assert any(w.high > w.low for w in fc.weeks)


invoices = st.lists(
    st.builds(
        lambda k, due_in, amount, p, q: _inv(k, due_in=due_in, amount=amount, p=p, q=tuple(q)),
        k=st.integers(0, 1000),
        due_in=st.integers(-400, 120),
        amount=st.floats(0, 1e6),
        p=st.floats(0, 1) | st.just(math.nan),
        q=st.lists(st.floats(-30, 300) | st.just(math.nan), min_size=3, max_size=3),
    ),
    max_size=30,
)


@hypothesis.settings(max_examples=150, deadline=None)
@given(invs=invoices, weeks=st.integers(1, 20))
def test_forecast_sums_to_expected_collections(invs, weeks):
    fc = cash_forecast(invs, as_of=TODAY, policy=POLICY, weeks=weeks)
    expected = sum(
        i.open_amount * (1.0 - (0.0 if math.isnan(i.p_default) else i.p_default)) for i in invs
    )
    total = sum(w.expected for w in fc.weeks) + fc.later
    assert fc.expected_total == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert total == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert all(w.expected >= 0 for w in fc.weeks) and fc.later >= 0
    assert fc.open_total == pytest.approx(sum(i.open_amount for i in invs))
