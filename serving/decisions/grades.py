"""Risk grades A (best) .. E (worst) from the calibrated probability of the risk target.

The target is the bundle's (`serving.decisions.target`): default, or paying very late
when the ledger has too few defaults; the reason names it.

When the bundle has no default model (history too thin to have defaults), the grade
comes from the predicted median days late instead, with its own cut-offs, and the
reason says so.

A customer has one grade a day (`customer_grade`), from what the ledger shows of it:

    open book     expected loss of its open invoices / their open amount, on the same
                  cut-offs (amount-weighted predicted days late without a default model)
    next invoice  the grade of its next typical invoice (usual amount, usual terms)
    grade         the worse of the two; at least D (`HORIZON_GRADE`) while any of its
                  invoices is unpaid past due + H: a default by the ledger's own rule

An order never changes it: the order's own probability is shown beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from features.wording import count, days, money, probability
from kernel.policy import GRADES, PolicySettings
from serving.decisions.records import OpenInvoice, is_present
from serving.decisions.scores import InvoiceScores, past_horizon
from serving.decisions.target import DEFAULT_TARGET, RiskTarget, chance_words

__all__ = [
    "HORIZON_GRADE",
    "CustomerGrade",
    "RiskGrade",
    "assess_grade",
    "customer_grade",
    "order_risk",
    "risk_grade",
]

# The best grade of a customer with an invoice unpaid past due + H (a default).
HORIZON_GRADE = "D"

GradeBasis = Literal["p_default", "days_late", "none"]


@dataclass(frozen=True)
class RiskGrade:
    """A grade and how it was reached.

    Attributes:
        grade: "A" (best) .. "E" (worst).
        basis: "p_default" (calibrated default model), "days_late" (no default model:
            predicted median days late) or "none" (no score at all: middle grade "C").
        reason: one sentence for people.
    """

    grade: str
    basis: GradeBasis
    reason: str
    fact: str = ""  # the reason without "grade X": what the grade rests on


def _grade_from(value: float, cutoffs: tuple[float, ...]) -> str:
    for grade, upper in zip(GRADES, cutoffs, strict=False):
        if value <= upper:
            return grade
    return GRADES[-1]


def assess_grade(
    p_default: float | None,
    days_late_p50: float | None = None,
    *,
    policy: PolicySettings,
    target: RiskTarget = DEFAULT_TARGET,
) -> RiskGrade:
    """Grade one score: from `p_default`, else (NaN / None) from `days_late_p50`.

    Args:
        p_default: calibrated probability of the risk target (NaN or None when unavailable).
        days_late_p50: predicted median days late, the fallback basis.
        policy: the decision policy; the serving state's holds the bundle's cut-offs.
        target: what `p_default` is the probability of (the bundle's risk target).
    """
    if is_present(p_default):
        p = float(p_default)
        grade = _grade_from(p, policy.grade_cutoffs)
        fact = f"{probability(p)} {chance_words(target)}"
        return RiskGrade(grade, "p_default", f"grade {grade}: {fact}", fact)
    if is_present(days_late_p50):
        late = float(days_late_p50)
        grade = _grade_from(late, policy.grade_days_late_cutoffs)
        fact = (
            f"expected lateness ({late:.0f} days typical): the model has too few defaults "
            "in its history to estimate a chance of default"
        )
        return RiskGrade(grade, "days_late", f"grade {grade} from {fact}", fact)
    fact = "no score is available for this customer"
    return RiskGrade("C", "none", f"grade C by default: {fact}", fact)


def risk_grade(
    p_default: float | None,
    days_late_p50: float | None = None,
    *,
    policy: PolicySettings,
) -> str:
    """Risk grade "A".."E" of one score (see `assess_grade` for the rules)."""
    return assess_grade(p_default, days_late_p50, policy=policy).grade


@dataclass(frozen=True)
class CustomerGrade:
    """A customer's one grade of the day, and the facts behind it.

    Attributes:
        grade: "A" (best) .. "E" (worst).
        basis: the basis of its next-invoice grade (`RiskGrade.basis`).
        reason: one sentence: the grade and every fact below.
        facts: why, one sentence each, the deciding one first.
        open_grade: the grade of its open invoices alone (None without any).
        next_grade: the grade of its next typical invoice alone.
        past_horizon: its open invoices past due + H (defaults by the ledger's rule).
    """

    grade: str
    basis: GradeBasis
    reason: str
    facts: tuple[str, ...]
    open_grade: str | None
    next_grade: str
    past_horizon: tuple[str, ...] = ()


def _worse(a: str, b: str) -> str:
    return max(a, b, key=GRADES.index)


def _open_book(
    invoices: Sequence[OpenInvoice], *, policy: PolicySettings, target: RiskTarget
) -> tuple[str, str] | None:
    """Grade and sentence of the open invoices: amount-weighted P, else days late."""
    total = sum(inv.open_amount for inv in invoices)
    if total <= 0:
        return None
    if all(is_present(inv.p_default) for inv in invoices):
        loss = sum(inv.open_amount * inv.p_default for inv in invoices)
        share = loss / total
        return _grade_from(share, policy.grade_cutoffs), (
            f"its open invoices of {money(total)} carry an expected loss of {money(loss)} "
            f"({probability(share)} {chance_words(target)}, weighted by amount)"
        )
    if all(is_present(inv.days_late_p50) for inv in invoices):
        days = sum(inv.open_amount * inv.days_late_p50 for inv in invoices) / total
        return _grade_from(days, policy.grade_days_late_cutoffs), (
            f"its open invoices of {money(total)} are expected to be paid {days:.0f} days "
            "late (typical, weighted by amount)"
        )
    return None


def _next_invoice(assessed: RiskGrade, amount: float) -> str:
    if assessed.basis == "none":
        return "no score is available for its next typical invoice"
    return f"its next typical invoice of {money(amount)}: {assessed.fact}"


def _horizon_fact(
    late: Sequence[OpenInvoice], as_of: dt.date, horizon_days: int, target: RiskTarget
) -> str:
    """'invoice X is 254 days past due, past the 90-day default horizon'."""
    oldest = min(late, key=lambda inv: (inv.due_date, inv.invoice_id))
    # With the very-late target no sentence may speak of default (`chance_words`).
    horizon = "default horizon" if target.name == "default" else "horizon: treated as lost"
    fact = (
        f"invoice {oldest.invoice_id} is {days(oldest.days_overdue(as_of))} past due, "
        f"past the {horizon_days}-day {horizon}"
    )
    more = len(late) - 1
    return fact + (f" ({count(more, 'more invoice')} past it too)" if more else "")


def customer_grade(
    invoices: Sequence[OpenInvoice],
    next_invoice: InvoiceScores,
    *,
    typical_amount: float,
    as_of: dt.date,
    horizon_days: int,
    policy: PolicySettings,
    target: RiskTarget = DEFAULT_TARGET,
) -> CustomerGrade:
    """A customer's grade from its actual state: the worse of its open invoices' grade
    (expected loss / open amount, on the same cut-offs) and its next typical invoice's
    grade; at least `HORIZON_GRADE` with an invoice past due + H (a default by the rule).

    Args:
        invoices: its open invoices, scored as unpaid on `as_of` (`InvoiceScores.open_on`).
        next_invoice: the scores of its next typical invoice (graded by `assess_grade`).
        typical_amount: that invoice's amount.
        as_of: the serving date.
        horizon_days: H, the bundle's default horizon.
        policy: the decision policy (grade cut-offs).
        target: what the probabilities are of.
    """
    facts: list[str] = []
    next_grade = assess_grade(
        next_invoice.p_default, next_invoice.days_late_p50, policy=policy, target=target
    )
    grade = next_grade.grade
    book = _open_book(invoices, policy=policy, target=target)
    late = [
        inv
        for inv in invoices
        if past_horizon(inv.due_date, as_of=as_of, horizon_days=horizon_days)
    ]
    if late:
        grade = _worse(grade, HORIZON_GRADE)
        facts.append(_horizon_fact(late, as_of, horizon_days, target))
    next_fact = _next_invoice(next_grade, typical_amount)
    if book is not None and GRADES.index(book[0]) >= GRADES.index(next_grade.grade):
        facts += [book[1], next_fact]  # the open invoices decide (or tie)
    else:
        facts += [next_fact, *([book[1]] if book else [])]
    grade = _worse(grade, book[0]) if book else grade
    return CustomerGrade(
        grade=grade,
        basis=next_grade.basis,
        reason=f"grade {grade}: " + "; ".join(facts),
        facts=tuple(facts),
        open_grade=book[0] if book else None,
        next_grade=next_grade.grade,
        past_horizon=tuple(inv.invoice_id for inv in late),
    )


def order_risk(order: RiskGrade, *, policy: PolicySettings) -> tuple[str, bool]:
    """The sentence of an order's own risk (shown beside the customer's grade), and
    whether that risk alone asks for a credit review (its grade is a review grade)."""
    if order.basis == "none":
        return "no score is available for this order", False
    needs_review = order.grade in policy.order_review_grades
    text = f"this order alone: {order.fact}"
    if needs_review:
        text += f", grade {order.grade} on its own: the order needs a credit review"
    return text, needs_review
