"""Deciding an order on credit: the hot path of the API.

One dict of features from the customer's cached state (`features.online`), one model
row (`Bundle.row`), no DataFrame, no database; the decision itself is the pure
`serving.decisions.orders.order_decision`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from features.online import new_invoice_features
from kernel.errors import InvalidRequestError, UnknownEntityError
from serving.decisions.grades import assess_grade
from serving.decisions.orders import order_decision
from serving.entries import CustomerEntry
from serving.reasons import risk_target
from serving.schemas import OrderDecisionOut, ReasonOut
from serving.state import ServingState
from serving.usecases.present import model_reasons, optional

__all__ = ["decide_order"]

# An order this many times the customer's usual invoice is named among the reasons.
_LARGE_ORDER = 2.0


def _entry_for(
    state: ServingState, engine: sa.Engine, customer_id: str, as_of: dt.date
) -> CustomerEntry:
    if as_of == state.as_of:
        return state.entry(customer_id)
    # Another day than the one cached: compute that customer's state from the store.
    found = state.entries_at(engine, [customer_id], as_of).get(customer_id)
    if found is None:
        raise UnknownEntityError(
            f"unknown customer {customer_id!r} on {as_of}: import the customer first, "
            "or check the id and the order date"
        )
    return found


def decide_order(
    state: ServingState,
    engine: sa.Engine,
    *,
    customer_id: str,
    amount: float,
    order_date: dt.date | None = None,
    payment_terms_days: int | None = None,
    currency: str | None = None,
) -> OrderDecisionOut:
    """Approve / review / decline an order of `amount` for a customer, with reasons.

    Raises:
        UnknownEntityError: the customer is not known.
        InvalidRequestError: the currency is not the customer's.
    """
    as_of = order_date or state.as_of
    entry = _entry_for(state, engine, customer_id, as_of)
    if currency and entry.currency and currency.upper() != entry.currency.upper():
        raise InvalidRequestError(
            f"customer {customer_id!r} is invoiced in {entry.currency}, the order is in "
            f"{currency}: convert the amount to {entry.currency}"
        )
    bundle, policy = state.bundle, state.policy
    values = new_invoice_features(
        entry.features, amount=amount, as_of=as_of, payment_terms_days=payment_terms_days
    )
    x = bundle.row(values)
    # Graded by P(risk target) when the bundle has a risk model: the quantile models
    # (most of the trees) are then not needed for an order.
    scores = bundle.predict_row(x, quantiles=not bundle.has_default_model)
    p_default = float(scores.p_default[0])
    target = risk_target(bundle)
    grade = assess_grade(p_default, float(scores.days_late_p50[0]), policy=policy, target=target)
    decision = order_decision(
        amount=amount,
        open_amount=entry.open_amount,
        credit_limit=entry.limit.amount,
        grade=grade.grade,
        policy=policy,
        overdue_amount=entry.overdue_amount(as_of),
    )
    reasons = [ReasonOut(text=text, source="policy") for text in decision.reasons]
    reasons.append(ReasonOut(text=grade.reason, source="policy"))
    usual = values.get("invoice_amount_vs_usual")
    # A float or None: the order amount (a float) over the usual amount, when known.
    if isinstance(usual, float) and usual >= _LARGE_ORDER:
        reasons.append(
            ReasonOut(
                text=f"the order is {usual:.1f} times the customer's usual invoice",
                source="policy",
            )
        )
    # The customer's risk factors, explained once per state (TreeSHAP is milliseconds
    # per row on a real model: too slow to run per order).
    reasons.extend(model_reasons(entry.typical.reasons))
    return OrderDecisionOut(
        customer_id=customer_id,
        decision=decision.decision,
        reasons=reasons,
        risk_grade=grade.grade,
        p_default=optional(p_default),
        risk_target=target.name,
        very_late_days=target.days,
        expected_days_late=float(scores.days_late[0]),
        suggested_credit_limit=entry.limit.amount,
        exposure_after_order=decision.exposure_after_order,
        model_version=bundle.model_version,
        as_of=as_of,
    )
