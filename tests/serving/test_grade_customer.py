"""A customer's one grade: its open invoices and its next typical invoice, never above D
with an invoice past due + H, whatever the size of an order."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from kernel.policy import GRADES, PolicySettings
from serving.decisions.grades import (
    HORIZON_GRADE,
    CustomerGrade,
    assess_grade,
    customer_grade,
    order_risk,
)
from serving.decisions.records import OpenInvoice
from serving.decisions.scores import InvoiceScores
from serving.decisions.target import RiskTarget

AS_OF = dt.date(2026, 3, 2)
_POLICY = PolicySettings.defaults()


def _invoice(invoice_id: str, days_overdue: int, amount: float, p: float) -> OpenInvoice:
    """An open invoice scored as unpaid today (P = 1 past due + 90, as served)."""
    due = AS_OF - dt.timedelta(days=days_overdue)
    scores = InvoiceScores(p_default=p, days_late=5.0, days_late_p50=5.0).open_on(
        due_date=due, as_of=AS_OF, horizon_days=90
    )
    return OpenInvoice(invoice_id, "C1", due, amount, **vars(scores))


def _grade(
    invoices: list[OpenInvoice], p_next: float, target: RiskTarget = RiskTarget()
) -> CustomerGrade:
    return customer_grade(
        invoices,
        InvoiceScores(p_default=p_next),
        typical_amount=1815.0,
        as_of=AS_OF,
        horizon_days=90,
        policy=_POLICY,
        target=target,
    )


def test_an_invoice_past_the_horizon_grades_the_customer_d_or_worse_and_says_why() -> None:
    # Issue 10's C00204: 1.2 % for a new invoice, yet 254 days late on an old one.
    small_and_old = _invoice("INV-7", 254, 100.0, 0.01)
    current = [_invoice(f"INV-{k}", -20, 50_000.0, 0.005) for k in range(3)]
    grade = _grade([small_and_old, *current], 0.012)
    assert grade.grade == HORIZON_GRADE and grade.next_grade == "A"
    assert grade.facts[0] == "invoice INV-7 is 254 days past due, past the 90-day default horizon"
    assert grade.reason.startswith("grade D: invoice INV-7 is 254 days past due")
    assert grade.past_horizon == ("INV-7",)
    # Most of its money past the horizon: E, by its open book.
    heavy = _grade([_invoice("INV-1", 151, 90_000.0, 0.3), _invoice("INV-2", 200, 10.0, 0.3)], 0.01)
    assert heavy.grade == "E" and heavy.open_grade == "E"
    assert "(1 more invoice past it too)" in heavy.facts[0]


def test_the_grade_is_the_worse_of_open_book_and_next_invoice() -> None:
    open_book = [_invoice("I1", 20, 10_000.0, 0.08)]  # C on its own
    assert _grade(open_book, 0.01).grade == "C"  # next invoice A: the open book decides
    assert _grade(open_book, 0.01).facts[0].startswith("its open invoices of 10,000")
    assert _grade(open_book, 0.3).grade == "E"  # next invoice E decides
    assert _grade(open_book, 0.3).facts[0].startswith("its next typical invoice of 1,815")
    nothing_open = _grade([], 0.03)
    assert nothing_open.grade == "B" and nothing_open.open_grade is None
    assert (
        nothing_open.reason == "grade B: its next typical invoice of 1,815: 3.0% chance of default"
    )


@pytest.mark.parametrize("days_overdue", [0, 30, 89, 90, 91, 254, 900])
@pytest.mark.parametrize("p_next", [0.0, 0.01, 0.5])
def test_never_above_d_past_the_horizon_and_never_forced_before(
    days_overdue: int, p_next: float
) -> None:
    grade = _grade([_invoice("I1", days_overdue, 1.0, 0.0), _invoice("I2", 0, 1e6, 0.0)], p_next)
    past = days_overdue > 90  # due + H before today
    assert (GRADES.index(grade.grade) >= GRADES.index("D")) == (past or p_next > 0.2)


def test_without_a_default_model_the_floor_still_holds_and_lateness_grades() -> None:
    late = _invoice("I1", 120, 500.0, math.nan)
    recent = _invoice("I2", -10, 5000.0, math.nan)
    assert late.p_default == 1.0 and math.isnan(recent.p_default)
    grade = customer_grade(
        [late, recent],
        InvoiceScores(days_late_p50=2.0),
        typical_amount=800.0,
        as_of=AS_OF,
        horizon_days=90,
        policy=_POLICY,
    )
    assert grade.grade in ("D", "E") and grade.basis == "days_late"
    assert any("days late (typical, weighted by amount)" in f for f in grade.facts)


def test_the_very_late_target_never_speaks_of_default() -> None:
    target = RiskTarget("very_late", 30)
    grade = _grade([_invoice("I1", 120, 500.0, 0.2)], 0.01, target=target)
    assert grade.grade in ("D", "E")
    assert "default" not in grade.reason
    assert "chance of paying more than 30 days late" in grade.reason


def test_an_orders_own_risk_is_shown_and_may_ask_for_review() -> None:
    text, review = order_risk(assess_grade(0.06, policy=_POLICY), policy=_POLICY)
    assert text == "this order alone: 6.0% chance of default" and not review
    text, review = order_risk(assess_grade(0.25, policy=_POLICY), policy=_POLICY)
    assert review and "grade E on its own" in text
