"""The scoring service: feature rows -> bundle -> scores -> reasons -> decisions.

Routes call these functions with the worker's `ServingState`; nothing here knows HTTP.
The order decision is the hot path: one dict of features from the customer's cached
state (`features.online`), one model row (`Bundle.row`), no DataFrame, no database.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import sqlalchemy as sa

from duecast.errors import ConflictError, InvalidRequestError, UnknownEntityError
from features.online import new_invoice_features
from serving.decisions.grades import assess_grade
from serving.decisions.orders import order_decision
from serving.decisions.records import ActionRecord
from serving.decisions.worklist import WorklistItem
from serving.reasons import TOP_REASONS, Reason, explain, feature_values
from serving.schemas import (
    ActionOut,
    CreditLimitOut,
    CustomerOut,
    DaysLateOut,
    InvoiceScoreOut,
    InvoicesScoredOut,
    NewInvoice,
    OrderDecisionOut,
    ReasonOut,
    WorklistItemOut,
    WorklistOut,
)
from serving.state import CustomerEntry, ServingState
from training.bundle import Bundle

__all__ = [
    "action_out",
    "customer_view",
    "decide_order",
    "score_invoices",
    "worklist_page",
]

# An order this many times the customer's usual invoice is named among the reasons.
_LARGE_ORDER = 2.0


def _opt(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _model_reasons(reasons: Sequence[Reason]) -> list[ReasonOut]:
    return [
        ReasonOut(text=r.text, source="model", feature=r.feature, effect=r.effect) for r in reasons
    ]


def _explain(bundle: Bundle, x: np.ndarray, values: Mapping[str, object]) -> list[ReasonOut]:
    contributions = bundle.contributions(x)[0]
    return _model_reasons(
        explain(contributions, values, feature_columns=bundle.feature_columns, top=TOP_REASONS)
    )


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
    # Graded by P(default) when the bundle has a default model: the quantile models
    # (most of the trees) are then not needed for an order.
    scores = bundle.predict_row(x, quantiles=not bundle.has_default_model)
    p_default = float(scores.p_default[0])
    grade = assess_grade(
        p_default, float(scores.days_late_p50[0]), policy=policy, thresholds=bundle.thresholds
    )
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
    if usual is not None and usual >= _LARGE_ORDER:  # type: ignore[operator]
        reasons.append(
            ReasonOut(
                text=f"the order is {usual:.1f} times the customer's usual invoice",
                source="policy",
            )
        )
    # The customer's risk factors, explained once per state (TreeSHAP is milliseconds
    # per row on a real model: too slow to run per order).
    reasons.extend(_model_reasons(entry.typical.reasons))
    return OrderDecisionOut(
        customer_id=customer_id,
        decision=decision.decision,
        reasons=reasons,
        risk_grade=grade.grade,
        p_default=_opt(p_default),
        expected_days_late=float(scores.days_late[0]),
        suggested_credit_limit=entry.limit.amount,
        exposure_after_order=decision.exposure_after_order,
        model_version=bundle.model_version,
        as_of=as_of,
    )


def action_out(action: ActionRecord | Mapping[str, object]) -> ActionOut:
    """The API form of a logged action."""
    if isinstance(action, ActionRecord):
        at = action.at
        if not isinstance(at, dt.datetime):
            at = dt.datetime.combine(at, dt.time.min, tzinfo=dt.UTC)
        return ActionOut(
            customer_id=action.customer_id,
            invoice_id=action.invoice_id,
            at=at,
            kind=action.kind,
            promised_date=action.promised_date,
            promised_amount=action.promised_amount,
            author=action.author,
            text=action.text,
        )
    return ActionOut.model_validate(dict(action))


def customer_view(state: ServingState, customer_id: str) -> CustomerOut:
    """Grade, typical-invoice risk, suggested limit, exposure, reasons, recent actions."""
    entry = state.entry(customer_id)
    typical = entry.typical
    return CustomerOut(
        customer_id=customer_id,
        name=entry.name,
        currency=entry.currency,
        risk_grade=typical.grade,
        grade_reason=typical.grade_reason,
        p_default=_opt(typical.p_default),
        expected_days_late=typical.days_late,
        typical_invoice_amount=typical.amount,
        credit_limit=CreditLimitOut(
            current=entry.credit_limit,
            suggested=entry.limit.amount,
            cold_start=entry.limit.cold_start,
            rationale=list(entry.limit.rationale),
        ),
        open_amount=round(entry.open_amount, 2),
        overdue_amount=round(entry.overdue_amount(state.as_of), 2),
        open_invoices=len(entry.invoices),
        reasons=_model_reasons(typical.reasons),
        recent_actions=[action_out(a) for a in reversed(entry.actions[-5:])],
        model_version=state.bundle.model_version,
        as_of=state.as_of,
    )


def _date_plus(day: dt.date, days: float) -> dt.date:
    return day + dt.timedelta(days=round(days))


def _invoice_out(
    *,
    invoice_id: str,
    customer_id: str,
    known: bool,
    amount: float,
    open_amount: float,
    due: dt.date,
    scores: tuple[float, float, float, float, float],
    reasons: list[ReasonOut],
) -> InvoiceScoreOut:
    p, mean, p10, p50, p90 = scores
    return InvoiceScoreOut(
        invoice_id=invoice_id,
        customer_id=customer_id,
        known=known,
        amount=amount,
        open_amount=open_amount,
        due_date=due,
        p_default=_opt(p),
        days_late=DaysLateOut(mean=mean, p10=p10, p50=p50, p90=p90),
        predicted_payment_date=_date_plus(due, p50),
        payment_date_p10=_date_plus(due, p10),
        payment_date_p90=_date_plus(due, p90),
        expected_loss=None if math.isnan(p) else round(open_amount * p, 2),
        reasons=reasons,
    )


def _find_open_invoice(
    state: ServingState, invoice_id: str, owner_of: Callable[[str], str | None]
) -> tuple[CustomerEntry, int]:
    customer_id = owner_of(invoice_id)
    if customer_id is None:
        raise UnknownEntityError(f"unknown invoice {invoice_id!r}: check the id")
    entry = state.entry(customer_id)
    for k, inv in enumerate(entry.invoices):
        if inv.invoice_id == invoice_id:
            return entry, k
    raise ConflictError(
        f"invoice {invoice_id!r} is not open on {state.as_of} (settled, written off or "
        "issued later): only open invoices are scored by id; send it as a new invoice instead"
    )


def score_invoices(
    state: ServingState,
    *,
    invoice_ids: Sequence[str],
    new_invoices: Sequence[NewInvoice],
    owner_of: Callable[[str], str | None],
) -> InvoicesScoredOut:
    """Scores of open invoices (by id) and of new invoices (as if issued on the serving date).

    Args:
        owner_of: customer id of a stored invoice id (None when unknown).

    Raises:
        UnknownEntityError: an unknown invoice or customer.
        ConflictError: an invoice id that is not open at the serving date.
    """
    bundle = state.bundle
    out: list[InvoiceScoreOut] = []
    for invoice_id in invoice_ids:
        entry, k = _find_open_invoice(state, invoice_id, owner_of)
        inv = entry.invoices[k]
        x = entry.invoice_x[k : k + 1]
        out.append(
            _invoice_out(
                invoice_id=invoice_id,
                customer_id=entry.customer_id,
                known=True,
                amount=entry.amounts[k],
                open_amount=inv.open_amount,
                due=inv.due_date,
                scores=(
                    inv.p_default,
                    inv.days_late,
                    inv.days_late_p10,
                    inv.days_late_p50,
                    inv.days_late_p90,
                ),
                reasons=_explain(bundle, x, feature_values(bundle, x[0])),
            )
        )
    if new_invoices:
        rows, values_list, dues = [], [], []
        for order in new_invoices:
            entry = state.entry(order.customer_id)
            values = new_invoice_features(
                entry.features,
                amount=order.amount,
                as_of=state.as_of,
                issue_date=order.issue_date,
                payment_terms_days=order.payment_terms_days,
            )
            values_list.append(values)
            rows.append(bundle.row(values))
            issue = order.issue_date or state.as_of
            dues.append(issue + dt.timedelta(days=int(values["invoice_terms_days"])))  # type: ignore[call-overload]
        X = np.vstack(rows)
        scores = bundle.predict(X)
        contributions = bundle.contributions(X)
        for k, order in enumerate(new_invoices):
            reasons = explain(
                contributions[k],
                values_list[k],
                feature_columns=bundle.feature_columns,
                top=TOP_REASONS,
            )
            out.append(
                _invoice_out(
                    invoice_id=order.invoice_id or f"new-{k + 1}",
                    customer_id=order.customer_id,
                    known=False,
                    amount=order.amount,
                    open_amount=order.amount,
                    due=dues[k],
                    scores=(
                        float(scores.p_default[k]),
                        float(scores.days_late[k]),
                        float(scores.days_late_p10[k]),
                        float(scores.days_late_p50[k]),
                        float(scores.days_late_p90[k]),
                    ),
                    reasons=_model_reasons(reasons),
                )
            )
    return InvoicesScoredOut(
        data=out, count=len(out), model_version=bundle.model_version, as_of=state.as_of
    )


def _item_out(state: ServingState, rank: int, item: WorklistItem) -> WorklistItemOut:
    entry = state.entry(item.customer_id)
    return WorklistItemOut(
        rank=rank,
        customer_id=item.customer_id,
        name=entry.name,
        priority=round(item.priority, 2),
        expected_loss=round(item.expected_loss, 2),
        open_amount=round(item.open_amount, 2),
        overdue_amount=round(item.overdue_amount, 2),
        max_days_overdue=item.max_days_overdue,
        risk_grade=item.grade,
        next_action=item.next_action,
        next_action_invoice=item.invoices[0].invoice_id if item.invoices else None,
        reasons=list(item.reasons),
        last_action=None if item.last_action is None else action_out(item.last_action),
    )


def worklist_page(
    state: ServingState,
    *,
    limit: int | None,
    offset: int = 0,
    grade: str | None = None,
    collector: str | None = None,
    include_waiting: bool = False,
) -> WorklistOut:
    """A page of the day's worklist, priority descending.

    Args:
        limit: items per page (default: the collectors' capacity for the day).
        offset: items to skip.
        grade: only customers of this risk grade.
        collector: only customers whose last action this collector logged (their
            accounts in progress).
        include_waiting: also customers with nothing to do today (promise pending,
            follow-up date not reached, not due yet), after those needing work.
    """
    work, waiting = state.ranked()
    items = work + waiting if include_waiting else work
    if grade:
        items = [it for it in items if it.grade == grade]
    if collector:
        items = [
            it
            for it in items
            if it.last_action is not None and (it.last_action.author or "") == collector
        ]
    capacity = state.policy.collector_capacity
    limit = capacity if limit is None else limit
    page = items[offset : offset + limit]
    data = [_item_out(state, offset + k + 1, it) for k, it in enumerate(page)]
    return WorklistOut(
        data=data,
        count=len(data),
        total=len(items),
        capacity=capacity,
        as_of=state.as_of,
        model_version=state.bundle.model_version,
    )
