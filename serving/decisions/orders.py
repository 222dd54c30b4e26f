"""Order decisions: approve, review or decline an order on credit, with reasons.

Exposure after the order = the customer's exposure now (open invoices including today's,
approved orders not yet invoiced, minus today's payments: `serving.decisions.exposure`)
+ the order amount, compared with the approved credit limit (the suggested one when the
customer has none; `limit_kind` says which, and the reasons name it):

    decline  exposure > limit × order_decline_above, or a decline grade (E) over
             limit × order_review_above
    review   exposure > limit × order_review_above, a review grade (D, E), or overdue
             amount > limit × order_overdue_review_share
    approve  otherwise

More exposure, more overdue, a worse grade or a lower limit never make the answer more
lenient. Plain floats in and out: this sits inside an order flow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from features.wording import share_of
from kernel.policy import GRADES, PolicySettings

__all__ = ["DECISIONS", "Decision", "LimitKind", "OrderDecision", "order_decision"]

Decision = Literal["approve", "review", "decline"]
LimitKind = Literal["approved", "suggested"]
DECISIONS: tuple[Decision, ...] = ("approve", "review", "decline")  # lenient .. strict


@dataclass(frozen=True)
class OrderDecision:
    """The answer to one order.

    Attributes:
        decision: "approve", "review" or "decline".
        reasons: sentences, the ones that decided first.
        exposure_after_order: exposure before the order + order amount.
        utilisation: exposure after the order / the limit (inf for a zero limit).
        grade: the risk grade the decision used.
    """

    decision: Decision
    reasons: tuple[str, ...]
    exposure_after_order: float
    utilisation: float
    grade: str


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _check_amount(name: str, value: float) -> None:
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value}")


def order_decision(
    *,
    amount: float,
    open_amount: float,
    credit_limit: float,
    grade: str,
    policy: PolicySettings,
    overdue_amount: float = 0.0,
    limit_kind: LimitKind = "suggested",
) -> OrderDecision:
    """Approve / review / decline one order on credit.

    Args:
        amount: the order amount (>= 0).
        open_amount: the customer's exposure before the order (>= 0): what it owes now
            plus approved orders not yet invoiced.
        credit_limit: the limit orders are checked against: the approved limit, else the
            suggested one (`suggest_credit_limit(...).amount`).
        grade: the customer's risk grade "A".."E".
        policy: the decision policy (review / decline shares and grades).
        overdue_amount: the part of `open_amount` already past due.
        limit_kind: which limit `credit_limit` is ("approved" or "suggested"), for the
            reasons.

    Raises:
        ValueError: for a negative or NaN amount or an unknown grade (the API rejects
            these with 422 before calling).
    """
    for name, value in (
        ("amount", amount),
        ("open_amount", open_amount),
        ("credit_limit", credit_limit),
        ("overdue_amount", overdue_amount),
    ):
        _check_amount(name, value)
    if grade not in GRADES:
        raise ValueError(f"grade must be one of {', '.join(GRADES)}, got {grade!r}")
    exposure = open_amount + amount
    utilisation = exposure / credit_limit if credit_limit > 0 else math.inf
    limit = f"the {limit_kind} limit {_money(credit_limit)}"
    # As a person says it: "167% of the limit", "over 10 times the limit" (not "44894%"),
    # and a limit of 0 is no credit at all (no share of it to speak of).
    share = share_of(utilisation, limit) if credit_limit > 0 else f"above {limit} (no credit)"
    where = f"exposure after the order {_money(exposure)} is {share}"
    over_review = exposure > credit_limit * policy.order_review_above
    declines: list[str] = []
    reviews: list[str] = []
    if exposure > credit_limit * policy.order_decline_above:
        declines.append(f"{where}, beyond the {policy.order_decline_above:.0%} decline point")
    if over_review and grade in policy.order_decline_grades:
        declines.append(f"grade {grade} customer: no credit over the limit")
    if over_review:
        reviews.append(f"{where}, above the {policy.order_review_above:.0%} review point")
    if grade in policy.order_review_grades:
        reviews.append(f"grade {grade} customer: orders need a credit review")
    if overdue_amount > credit_limit * policy.order_overdue_review_share:
        reviews.append(
            f"{_money(overdue_amount)} already overdue, more than "
            f"{policy.order_overdue_review_share:.0%} of the limit"
        )
    if declines:
        decision: Decision = "decline"
        reasons = declines + [r for r in reviews if not r.startswith(where)]
    elif reviews:
        decision = "review"
        reasons = reviews
    else:
        decision = "approve"
        reasons = [f"{where}; grade {grade}"]
    return OrderDecision(
        decision=decision,
        reasons=tuple(reasons),
        exposure_after_order=exposure,
        utilisation=utilisation,
        grade=grade,
    )
