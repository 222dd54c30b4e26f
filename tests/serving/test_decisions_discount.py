"""Early-payment discount: worth it only when earlier money beats its price."""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.decisions import PolicySettings, discount_advice

POLICY = PolicySettings.defaults()


def test_late_payer_is_worth_a_discount():
    # Paid 30 + 40 = 70 days after issue; with the discount on day 10: 60 days earlier,
    # worth 8 % × 60 / 365 = 1.32 % > 1 %.
    advice = discount_advice(amount=10_000, terms_days=30, expected_days_late=40, policy=POLICY)
    assert advice.worth_offering
    assert advice.days_earlier == 60
    assert advice.break_even_rate == pytest.approx(0.08 * 60 / 365)
    assert advice.net_benefit == pytest.approx(10_000 * (0.08 * 60 / 365 - 0.01))
    assert "worth offering" in advice.reasons[-1]


def test_prompt_payer_is_not_worth_a_discount():
    advice = discount_advice(amount=10_000, terms_days=30, expected_days_late=-2, policy=POLICY)
    assert not advice.worth_offering
    assert advice.net_benefit < 0
    assert "not worth offering" in advice.reasons[-1]


def test_band_minimum_offered_when_the_policy_rate_is_too_dear():
    # 45 days earlier: break-even 0.99 %, above the 0.8 % band floor, below 1 %.
    advice = discount_advice(amount=1_000, terms_days=30, expected_days_late=25, policy=POLICY)
    assert advice.rate == POLICY.discount_rate_min
    assert advice.worth_offering
    fixed = discount_advice(
        amount=1_000, terms_days=30, expected_days_late=25, policy=POLICY, rate=0.01
    )
    assert fixed.rate == 0.01 and not fixed.worth_offering


def test_dearer_capital_makes_discounts_worth_more():
    dear = POLICY.replace(cost_of_capital=0.4)
    assert not discount_advice(
        amount=1, terms_days=30, expected_days_late=0, policy=POLICY
    ).worth_offering
    assert discount_advice(
        amount=1, terms_days=30, expected_days_late=0, policy=dear
    ).worth_offering


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        discount_advice(amount=-1, terms_days=30, expected_days_late=0, policy=POLICY)
    with pytest.raises(ValueError):
        discount_advice(amount=1, terms_days=30, expected_days_late=0, policy=POLICY, rate=1.5)


@hypothesis.settings(max_examples=300, deadline=None)
@given(
    amount=st.floats(0.01, 1e7),
    terms=st.integers(0, 120),
    days=st.tuples(st.floats(-60, 365), st.floats(-60, 365)),
    rate=st.floats(0.001, 0.1),
)
def test_sign_of_net_benefit_decides_and_later_payers_gain_more(amount, terms, days, rate):
    early, late = sorted(days)
    a = discount_advice(
        amount=amount, terms_days=terms, expected_days_late=early, policy=POLICY, rate=rate
    )
    b = discount_advice(
        amount=amount, terms_days=terms, expected_days_late=late, policy=POLICY, rate=rate
    )
    for advice in (a, b):
        assert advice.worth_offering == (advice.net_benefit > 0)
        assert advice.worth_offering == (advice.break_even_rate > rate)
    assert b.net_benefit >= a.net_benefit
