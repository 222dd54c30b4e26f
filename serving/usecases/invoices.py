"""Scoring invoices: open ones by id and new ones (the API), every open one (`duecast score`).

Expected loss and payment dates come from `serving.decisions.scores`, the one place
they are computed. Every invoice scored here is unpaid on the serving date (an open one,
or a new one); its scores are given that (`InvoiceScores.open_on`: open invoices carry
them from `serving.entries`), and one past due + H is a default with that reason instead
of the model's (with the very-late target, one past due + V is already very late).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from features.online import new_invoice_features
from kernel.errors import ConflictError, UnknownEntityError
from serving.attributes import attribute_features
from serving.decisions.records import is_missing
from serving.decisions.scores import (
    InvoiceScores,
    certain_days,
    certain_reason,
    past_horizon,
    payment_date,
)
from serving.decisions.target import RiskTarget
from serving.entries import CustomerEntry
from serving.reasons import TOP_REASONS, explain, feature_values, risk_target
from serving.schemas import DaysLateOut, InvoiceScoreOut, InvoicesScoredOut, NewInvoice, ReasonOut
from serving.state import ServingState
from serving.usecases.present import model_reasons, optional

__all__ = ["SCORE_COLUMNS", "open_invoice_scores", "score_invoices"]

# The columns of `duecast score`'s file, in order.
SCORE_COLUMNS = [
    "invoice_id",
    "customer_id",
    "due_date",
    "open_amount",
    "disputed",
    "p_default",
    "expected_loss",
    "days_late",
    "days_late_p10",
    "days_late_p50",
    "days_late_p90",
    "predicted_payment_date",
    "risk_grade",
]


def _invoice_out(
    *,
    invoice_id: str,
    customer_id: str,
    known: bool,
    amount: float,
    open_amount: float,
    due: dt.date,
    scores: InvoiceScores,
    reasons: list[ReasonOut],
    target: RiskTarget,
) -> InvoiceScoreOut:
    loss = scores.expected_loss(open_amount)
    return InvoiceScoreOut(
        invoice_id=invoice_id,
        customer_id=customer_id,
        known=known,
        amount=amount,
        open_amount=open_amount,
        due_date=due,
        p_default=optional(scores.p_default),
        risk_target=target.name,
        very_late_days=target.days,
        days_late=DaysLateOut(
            mean=scores.days_late,
            p10=scores.days_late_p10,
            p50=scores.days_late_p50,
            p90=scores.days_late_p90,
        ),
        predicted_payment_date=payment_date(due, scores.days_late_p50),
        payment_date_p10=payment_date(due, scores.days_late_p10),
        payment_date_p90=payment_date(due, scores.days_late_p90),
        expected_loss=None if loss is None else round(loss, 2),
        reasons=reasons,
    )


def _rule_reasons(state: ServingState, due: dt.date) -> list[ReasonOut] | None:
    """The reason of P = 1 for an invoice past due + H (very-late target: + V) on the
    serving date, in place of the model's; None for any other invoice."""
    horizon, target = state.bundle.horizon_days, risk_target(state.bundle)
    if not past_horizon(due, as_of=state.as_of, horizon_days=certain_days(target, horizon)):
        return None
    text = certain_reason(target, horizon)
    return [ReasonOut(text=text, source="policy", effect="raises risk")]


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


def _scored_open(
    state: ServingState, invoice_ids: Sequence[str], owner_of: Callable[[str], str | None]
) -> list[InvoiceScoreOut]:
    bundle = state.bundle
    out = []
    for invoice_id in invoice_ids:
        entry, k = _find_open_invoice(state, invoice_id, owner_of)
        inv = entry.invoices[k]
        reasons = _rule_reasons(state, inv.due_date)
        if reasons is None:
            x = entry.invoice_x[k : k + 1]
            explained = explain(
                bundle.contributions(x)[0],
                feature_values(bundle, x[0]),
                feature_columns=bundle.feature_columns,
                top=TOP_REASONS,
            )
            reasons = model_reasons(explained)
        out.append(
            _invoice_out(
                invoice_id=invoice_id,
                customer_id=entry.customer_id,
                known=True,
                amount=entry.amounts[k],
                open_amount=inv.open_amount,
                due=inv.due_date,
                scores=InvoiceScores.of(inv),
                reasons=reasons,
                target=risk_target(bundle),
            )
        )
    return out


def _scored_new(state: ServingState, new_invoices: Sequence[NewInvoice]) -> list[InvoiceScoreOut]:
    if not new_invoices:
        return []
    bundle = state.bundle
    rows, values_list, dues = [], [], []
    for k, order in enumerate(new_invoices):
        entry = state.entry(order.customer_id)
        values = new_invoice_features(
            entry.features,
            amount=order.amount,
            as_of=state.as_of,
            issue_date=order.issue_date,
            payment_terms_days=order.payment_terms_days,
            attributes=attribute_features(
                bundle, order.attributes, where=f"invoices[{k}].attributes"
            ),
        )
        values_list.append(values)
        rows.append(bundle.row(values))
        issue = order.issue_date or state.as_of
        terms_days = values["invoice_terms_days"]
        assert isinstance(terms_days, int)  # `new_invoice_features` gives whole days
        dues.append(issue + dt.timedelta(days=terms_days))
    X = np.vstack(rows)
    scores = bundle.predict(X)
    contributions = bundle.contributions(X)
    out = []
    for k, order in enumerate(new_invoices):
        reasons = _rule_reasons(state, dues[k]) or model_reasons(
            explain(
                contributions[k],
                values_list[k],
                feature_columns=bundle.feature_columns,
                top=TOP_REASONS,
            )
        )
        scores_k = InvoiceScores.at(scores, k).open_on(
            due_date=dues[k],
            as_of=state.as_of,
            horizon_days=bundle.horizon_days,
            target=risk_target(bundle),
        )
        out.append(
            _invoice_out(
                invoice_id=order.invoice_id or f"new-{k + 1}",
                customer_id=order.customer_id,
                known=False,
                amount=order.amount,
                open_amount=order.amount,
                due=dues[k],
                scores=scores_k,
                reasons=reasons,
                target=risk_target(bundle),
            )
        )
    return out


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
    out = _scored_open(state, invoice_ids, owner_of) + _scored_new(state, new_invoices)
    return InvoicesScoredOut(
        data=out, count=len(out), model_version=state.bundle.model_version, as_of=state.as_of
    )


def open_invoice_scores(state: ServingState) -> pd.DataFrame:
    """One row per open invoice: scores, expected loss, predicted payment date, grade."""
    rows = []
    for entry in state.entries.values():
        for inv in entry.invoices:
            loss = InvoiceScores.of(inv).expected_loss(inv.open_amount)
            rows.append(
                {
                    "invoice_id": inv.invoice_id,
                    "customer_id": entry.customer_id,
                    "due_date": inv.due_date,
                    "open_amount": inv.open_amount,
                    "disputed": inv.disputed,
                    "p_default": inv.p_default,
                    "expected_loss": math.nan if loss is None else loss,
                    "days_late": inv.days_late,
                    "days_late_p10": inv.days_late_p10,
                    "days_late_p50": inv.days_late_p50,
                    "days_late_p90": inv.days_late_p90,
                    "predicted_payment_date": None
                    if is_missing(inv.days_late_p50)
                    else payment_date(inv.due_date, inv.days_late_p50),
                    "risk_grade": entry.grade.grade,
                }
            )
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    frame["expected_loss"] = frame["expected_loss"].round(2)
    frame["due_date"] = pd.to_datetime(frame["due_date"])
    # In microseconds: the unit this file has had (a date plus a pandas timedelta).
    frame["predicted_payment_date"] = pd.to_datetime(frame["predicted_payment_date"]).astype(
        "datetime64[us]"
    )
    return frame.sort_values("invoice_id", kind="stable").reset_index(drop=True)
