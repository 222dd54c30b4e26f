"""Reasons people can read: no worse fact that lowers risk, numbers as a person writes them."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.spec import FEATURE_COLUMNS, FEATURE_SPEC, feature_by_name
from features.wording import pct, probability, share_of
from kernel.policy import PolicySettings
from serving.decisions.grades import assess_grade, customer_grade
from serving.decisions.records import OpenInvoice
from serving.decisions.scores import InvoiceScores
from serving.reasons import CUSTOMER_LEVEL, explain

DIRECTED = [f.name for f in FEATURE_SPEC if f.direction]
_POLICY = PolicySettings.defaults()


def _one(feature: str, value: float, contribution: float, **others: object) -> list[str]:
    contributions = np.zeros(len(FEATURE_COLUMNS))
    contributions[FEATURE_COLUMNS.index(feature)] = contribution
    return [
        f"{r.text} ({r.effect})"
        for r in explain(contributions, {feature: value, **others}, feature_columns=FEATURE_COLUMNS)
    ]


def test_a_worse_fact_never_lowers_risk_in_a_reason() -> None:
    # The sentences of issue 10, with the sign the model gave them.
    assert _one("exposure_oldest_overdue_days", 254.0, -0.4) == []
    assert _one("history_share_late", 0.43, -0.3) == []
    assert _one("history_days_late_trend", 5.0, -0.2) == []
    assert _one("exposure_credit_utilisation", 1.51, -0.2) == []
    # The same facts that raise risk, and good facts that lower it, are shown.
    assert _one("exposure_oldest_overdue_days", 254.0, 0.4) == [
        "its oldest overdue invoice is 254 days past due (raises risk)"
    ]
    assert _one("exposure_oldest_overdue_days", 0.0, -0.4) == ["nothing is overdue (lowers risk)"]
    assert _one("exposure_credit_utilisation", 0.3, -0.2) == [
        "uses 30% of its credit limit (lowers risk)"
    ]
    # A better fact does not raise risk either; an undirected feature says what it says.
    assert _one("history_days_late_mean", -3.0, 0.5, history_settled_count=4.0) == []
    assert _one("customer_tenure_days", 400.0, 0.5) == [
        "has been a customer for 13 months (raises risk)"
    ]


@settings(max_examples=300, deadline=None)
@given(
    contributions=st.lists(
        st.floats(-3, 3, allow_nan=False),
        min_size=len(FEATURE_COLUMNS),
        max_size=len(FEATURE_COLUMNS),
    ),
    values=st.lists(
        st.floats(-400, 400, allow_nan=False), min_size=len(DIRECTED), max_size=len(DIRECTED)
    ),
)
def test_every_shown_reason_agrees_with_the_declared_direction(
    contributions: list[float], values: list[float]
) -> None:
    row = dict(zip(DIRECTED, values, strict=True))
    reasons = explain(np.array(contributions), row, feature_columns=FEATURE_COLUMNS, top=40)
    for reason in reasons:
        spec = feature_by_name(reason.feature)
        if spec.direction:
            worse = spec.direction * (row[reason.feature] - spec.neutral) > 0
            assert (reason.effect == "raises risk") == worse, reason


def test_a_typical_invoice_explains_only_customer_facts() -> None:
    contributions = np.zeros(len(FEATURE_COLUMNS))
    contributions[FEATURE_COLUMNS.index("invoice_days_past_due")] = -0.9
    contributions[FEATURE_COLUMNS.index("exposure_overdue_amount")] = 0.3
    values = {"invoice_days_past_due": -45.0, "exposure_overdue_amount": 92465.0}
    everything = explain(contributions, values, feature_columns=FEATURE_COLUMNS)
    assert [r.text for r in everything] == ["the invoice is due in 45 days", "has 92,465 overdue"]
    customer = explain(
        contributions, values, feature_columns=FEATURE_COLUMNS, levels=CUSTOMER_LEVEL
    )
    assert [r.text for r in customer] == ["has 92,465 overdue"]


def test_numbers_read_as_a_person_writes_them() -> None:
    assert probability(0.0123456789) == "1.2%"
    assert probability(0.00001) == "under 0.1%"
    assert probability(1.0) == "100%"
    assert pct(12.5) == "1,250%"
    assert share_of(6668.07, "the limit") == "over 10 times the limit"
    assert share_of(1.51, "the limit") == "151% of the limit"
    assert (
        feature_by_name("exposure_credit_utilisation").sentence(
            {"exposure_credit_utilisation": 6668.07}
        )
        == "uses over 10 times its credit limit"
    )


def test_grade_text_is_said_once_with_one_decimal() -> None:
    grade = assess_grade(0.0251234567, policy=_POLICY)
    assert grade.reason == "grade B: 2.5% chance of default"
    assert grade.fact == "2.5% chance of default"
    as_of = dt.date(2026, 3, 2)
    invoice = OpenInvoice("I1", "C1", as_of - dt.timedelta(days=10), 5000.0, p_default=0.03)
    customer = customer_grade(
        [invoice],
        InvoiceScores(p_default=0.0251234567),
        typical_amount=1815.0,
        as_of=as_of,
        horizon_days=90,
        policy=_POLICY,
    )
    assert customer.reason.count("grade") == 1
    for text in (customer.reason, *customer.facts):
        assert not re.search(r"\d\.\d{2,}", text), text  # no long decimals
    assert "5,000" in customer.reason and "1,815" in customer.reason


def test_a_worklist_expected_loss_never_reads_zero_percent() -> None:
    from serving.decisions.item_reasons import item_reasons
    from serving.decisions.worklist import InvoiceStep

    step = InvoiceStep(
        invoice_id="INV-1",
        due_date=dt.date(2026, 2, 23),
        days_overdue=7,
        open_amount=52_917.0,
        p_default=0.0001,
        expected_days_late=3.0,
        expected_loss=5.3,
        cost_of_waiting=23.0,
        priority=28.3,
        action="call",
        reason="7 days overdue",
    )
    reasons = item_reasons([step], _POLICY, "chance of default")
    assert "expected loss 5 on 52,917 open (under 0.1% average chance of default)" in reasons
    assert not any("0.0%" in r for r in reasons)
