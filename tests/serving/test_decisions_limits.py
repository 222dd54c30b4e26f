"""Credit limits: monotone in risk, within floor / ceiling / max change, cold start default."""

from __future__ import annotations

import math

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.decisions import PolicySettings, monthly_sales_estimate, suggest_credit_limit

BASE = PolicySettings.defaults()
HYP = hypothesis.settings(max_examples=300, deadline=None)


@st.composite
def policies(draw: st.DrawFn) -> PolicySettings:
    """Valid limit policies: floor <= default <= ceiling, any change share, slope, rounding."""
    floor = draw(st.floats(0, 50_000))
    ceiling = floor + draw(st.floats(1, 500_000))
    default = draw(st.floats(floor, ceiling))
    return BASE.replace(
        credit_limit_floor=floor,
        credit_limit_ceiling=ceiling,
        credit_limit_default=default,
        credit_limit_max_change=draw(st.floats(0.01, 2.0)),
        credit_limit_risk_slope=draw(st.floats(0.1, 20.0)),
        credit_limit_slack_days=draw(st.integers(0, 60)),
        credit_limit_rounding=draw(st.sampled_from([0.0, 1.0, 100.0, 1000.0])),
        credit_limit_min_history=draw(st.integers(0, 5)),
    )


sales = st.floats(0, 1e6)
terms = st.integers(0, 120)
probabilities = st.floats(0, 1)
currents = st.none() | st.floats(0, 1e6)
histories = st.none() | st.integers(0, 50)


@HYP
@given(
    policy=policies(),
    monthly_sales=sales,
    terms_days=terms,
    p=st.tuples(probabilities, probabilities),
    current=currents,
    history=histories,
)
def test_limit_never_rises_with_risk(policy, monthly_sales, terms_days, p, current, history):
    low, high = sorted(p)
    kwargs = dict(
        monthly_sales=monthly_sales,
        terms_days=terms_days,
        policy=policy,
        current_limit=current,
        history_invoices=history,
    )
    safer = suggest_credit_limit(p_default=low, **kwargs)
    riskier = suggest_credit_limit(p_default=high, **kwargs)
    assert riskier.amount <= safer.amount


@HYP
@given(
    policy=policies(),
    monthly_sales=st.floats(1, 1e6),
    terms_days=terms,
    days=st.tuples(st.floats(-30, 400), st.floats(-30, 400)),
    current=currents,
)
def test_limit_without_default_model_never_rises_with_lateness(
    policy, monthly_sales, terms_days, days, current
):
    early, late = sorted(days)
    kwargs = dict(
        monthly_sales=monthly_sales,
        terms_days=terms_days,
        p_default=math.nan,
        policy=policy,
        current_limit=current,
        history_invoices=10,
    )
    prompt = suggest_credit_limit(days_late_p50=early, **kwargs)
    slow = suggest_credit_limit(days_late_p50=late, **kwargs)
    assert slow.amount <= prompt.amount
    assert not prompt.cold_start


@HYP
@given(
    policy=policies(),
    monthly_sales=sales,
    terms_days=terms,
    p=probabilities,
    current=currents,
    history=histories,
)
def test_limit_within_floor_and_ceiling(policy, monthly_sales, terms_days, p, current, history):
    limit = suggest_credit_limit(
        monthly_sales=monthly_sales,
        terms_days=terms_days,
        p_default=p,
        policy=policy,
        current_limit=current,
        history_invoices=history,
    )
    assert policy.credit_limit_floor <= limit.amount <= policy.credit_limit_ceiling
    assert limit.rationale


@HYP
@given(
    policy=policies(),
    monthly_sales=st.floats(1, 1e6),
    terms_days=terms,
    p=probabilities,
    data=st.data(),
)
def test_limit_moves_at_most_max_change_from_a_current_limit_within_bounds(
    policy, monthly_sales, terms_days, p, data
):
    current = data.draw(st.floats(max(policy.credit_limit_floor, 1.0), policy.credit_limit_ceiling))
    hypothesis.assume(current <= policy.credit_limit_ceiling)
    limit = suggest_credit_limit(
        monthly_sales=monthly_sales,
        terms_days=terms_days,
        p_default=p,
        policy=policy,
        current_limit=current,
        history_invoices=policy.credit_limit_min_history,
    )
    assert not limit.cold_start
    change = policy.credit_limit_max_change * current
    assert abs(limit.amount - current) <= change * (1 + 1e-9) + 1e-6


def test_cold_start_gets_the_policy_default():
    for kwargs in (
        dict(monthly_sales=None, history_invoices=None),
        dict(monthly_sales=0.0, history_invoices=20),
        dict(monthly_sales=50_000.0, history_invoices=BASE.credit_limit_min_history - 1),
    ):
        limit = suggest_credit_limit(terms_days=30, p_default=0.01, policy=BASE, **kwargs)
        assert limit.cold_start
        assert limit.amount == BASE.credit_limit_default
        assert "policy default" in limit.rationale[0]


def test_no_risk_score_at_all_is_a_cold_start():
    limit = suggest_credit_limit(
        monthly_sales=20_000, terms_days=30, p_default=None, policy=BASE, history_invoices=10
    )
    assert limit.cold_start and limit.amount == BASE.credit_limit_default
    assert "no risk score" in limit.rationale[0]


def test_formula_reads_back_in_the_rationale():
    limit = suggest_credit_limit(
        monthly_sales=12_000, terms_days=30, p_default=0.05, policy=BASE, history_invoices=10
    )
    # 12,000 × (30 + 15) / 30 = 18,000; × (1 − 4 × 0.05) = 14,400.
    assert limit.base == pytest.approx(18_000)
    assert limit.risk_factor == pytest.approx(0.8)
    assert limit.amount == pytest.approx(14_400)
    assert "12,000" in limit.rationale[0] and "18,000" in limit.rationale[0]
    assert "5.0% chance of default" in limit.rationale[1]
    assert limit.rationale[-1] == "suggested limit 14,400"
    safe = suggest_credit_limit(
        monthly_sales=12_000, terms_days=30, p_default=0.0002, policy=BASE, history_invoices=10
    )
    assert "for under 0.1% chance of default" in safe.rationale[1]  # it read "a 0.0% chance"


def test_max_change_and_ceiling_are_explained():
    up = suggest_credit_limit(
        monthly_sales=12_000,
        terms_days=30,
        p_default=0.0,
        policy=BASE,
        current_limit=10_000,
        history_invoices=10,
    )
    assert up.amount == pytest.approx(12_500)
    assert any("at most 25%" in r for r in up.rationale)
    huge = suggest_credit_limit(
        monthly_sales=10_000_000, terms_days=60, p_default=0.0, policy=BASE, history_invoices=10
    )
    assert huge.amount == BASE.credit_limit_ceiling
    assert any("ceiling" in r for r in huge.rationale)


def test_monthly_sales_estimate():
    # 24 invoices of 1,000 over two years: 1,000 a month.
    assert monthly_sales_estimate(
        invoice_count=24, median_invoice_amount=1_000, tenure_days=730.5
    ) == pytest.approx(1_000)
    # A customer younger than a month counts as one month, not a fraction.
    assert monthly_sales_estimate(
        invoice_count=2, median_invoice_amount=500, tenure_days=3
    ) == pytest.approx(1_000)
    assert (
        monthly_sales_estimate(invoice_count=0, median_invoice_amount=500, tenure_days=90) is None
    )
    assert (
        monthly_sales_estimate(invoice_count=3, median_invoice_amount=math.nan, tenure_days=90)
        is None
    )
