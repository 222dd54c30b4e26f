"""Deciding an order on credit: the hot path of the API.

One dict of features from the customer's cached state (`features.online`), one model
row (`Bundle.row`), no DataFrame; the decision itself is the pure
`serving.decisions.orders.order_decision`, on the customer's real-time exposure
(`ServingState.exposure`) against its approved limit (the suggested one when it has none).
Exposure and limits are in the base currency: an order in another currency is converted
first, at the rate the state holds in memory (`in_base_currency`).

Two steps. `assess_order` decides from memory, with no database. An approval for the
serving day is final only once `confirm_order` has reserved its amount in the store
(`serving.approvals.reserve`, one transaction per approval, the customer locked): it
decides again with the reservations the store holds, so parallel approvals of one
customer, on any worker, cannot both pass a limit only one of them fits. A review or a
decline from memory stands: memory can only miss reservations, and more exposure never
makes an answer more lenient. An order dated another day is a what-if: it reserves nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from features.online import new_invoice_features
from kernel.errors import InvalidRequestError, StoreError, UnknownEntityError
from serving.approvals import active_reservations, reserve
from serving.attributes import attribute_features
from serving.decisions.exposure import Exposure, Reservation
from serving.decisions.grades import CustomerGrade, assess_grade, order_risk
from serving.decisions.orders import LimitKind, order_decision
from serving.entries import CustomerEntry
from serving.reasons import risk_target
from serving.schemas import OrderDecisionOut, ReasonOut
from serving.schemas.orders import ExposureOut, ReservationOut
from serving.state import ServingState
from serving.usecases.present import grade_reasons, model_reasons, optional

__all__ = [
    "OrderDraft",
    "assess_order",
    "confirm_order",
    "decide_order",
    "exposure_out",
    "in_base_currency",
]

# An order this many times the customer's usual invoice is named among the reasons.
_LARGE_ORDER = 2.0
_Reasons = tuple[tuple[ReasonOut, ...], tuple[ReasonOut, ...]]


def exposure_out(exposure: Exposure) -> ExposureOut:
    """The API form of an exposure."""
    return ExposureOut(
        open_amount=round(exposure.open_amount, 2),
        today_change=round(exposure.today_change, 2),
        reserved=round(exposure.reserved, 2),
        reserved_orders=exposure.reservations,
        total=exposure.total,
    )


def in_base_currency(state: ServingState, amount: float, currency: str | None) -> float:
    """An order amount in the base currency, at its currency's rate held in memory.

    No currency means the base currency (the caller passes the customer's when the
    order names none). Like an invoice, the order is valued at its day's rate: the
    latest on or before the serving date (`features.currency`).

    Raises:
        InvalidRequestError: no rate is known for the currency (422).
    """
    code = (currency or state.base_currency).upper()
    if code == state.base_currency:
        return amount
    rate = state.rates.get(code)
    if rate is None:
        raise InvalidRequestError(
            f"no exchange rate for {code}: amounts are decided in {state.base_currency}; "
            f"import {code} rates (exchange_rates.csv: rate_date, currency, rate = the value "
            f"of 1 {code} in {state.base_currency}) or send the order in {state.base_currency}"
        )
    return round(amount * rate, 2)


@dataclass(frozen=True)
class _Order:
    """An order scored: everything its answer needs but the exposure."""

    entry: CustomerEntry
    as_of: dt.date
    amount: float
    order_id: str | None
    grade: CustomerGrade
    own_text: str
    own_review: bool
    p_default: float
    expected_days_late: float
    usual: object  # the order amount over the customer's usual invoice, when known
    live: bool  # decided for the serving day: an approval reserves its amount
    converted: str | None = None  # how an order in another currency was converted


@dataclass(frozen=True)
class OrderDraft:
    """An order decided from memory; `needs_reservation`: an approval to confirm."""

    answer: OrderDecisionOut
    order: _Order
    needs_reservation: bool
    held: frozenset[str] = frozenset()  # ids of the reservations the answer counted


def _limit(entry: CustomerEntry) -> tuple[float, LimitKind]:
    """The limit orders are checked against: the approved one, else the suggested one."""
    approved = entry.credit_limit
    if approved is not None and not math.isnan(approved):
        return approved, "approved"
    return entry.limit.amount, "suggested"


# customer id -> (its entry, weakly held, and that entry's reasons in their API form).
_CUSTOMER_REASONS: dict[str, tuple[weakref.ref[CustomerEntry], _Reasons]] = {}


def _customer_reasons(entry: CustomerEntry) -> _Reasons:
    """The facts behind the customer's grade and its model risk factors, as API reasons.

    The same for every order of one entry (its grade and typical invoice are the day's),
    so made once per entry: each order used to build them again. The model reasons are
    explained when the state is built (TreeSHAP is milliseconds per row: too slow per
    order). Held by customer, with the entry held weakly: a new entry (a refresh, a new
    state) makes them again, and an old one is not kept alive.
    """
    cached = _CUSTOMER_REASONS.get(entry.customer_id)
    if cached is not None and cached[0]() is entry:
        return cached[1]
    made = (tuple(grade_reasons(entry.grade)), tuple(model_reasons(entry.typical.reasons)))
    _CUSTOMER_REASONS[entry.customer_id] = (weakref.ref(entry), made)
    return made


def _answer(
    state: ServingState, order: _Order, reservations: tuple[Reservation, ...] | None
) -> OrderDecisionOut:
    """The answer to `order` given the customer's reservations (None: those in memory)."""
    entry, policy = order.entry, state.policy
    exposure = state.exposure(entry, reservations=reservations, as_of=order.as_of)
    limit, kind = _limit(entry)
    decision = order_decision(
        amount=order.amount,
        open_amount=exposure.total,
        credit_limit=limit,
        grade=order.grade.grade,
        policy=policy,
        overdue_amount=entry.overdue_amount(order.as_of),
        limit_kind=kind,
    )
    verdict = "review" if order.own_review and decision.decision == "approve" else decision.decision
    reasons = [ReasonOut(text=text, source="policy") for text in decision.reasons]
    if order.converted:
        reasons.append(ReasonOut(text=order.converted, source="policy"))
    if kind == "suggested":
        reasons.append(
            ReasonOut(
                text=f"no approved credit limit: checked against the suggested limit {limit:,.0f}",
                source="policy",
            )
        )
    grade_facts, risk_factors = _customer_reasons(entry)
    reasons += [*grade_facts, ReasonOut(text=order.own_text, source="policy")]
    # A float or None: the order amount (a float) over the usual amount, when known.
    if isinstance(order.usual, float) and order.usual >= _LARGE_ORDER:
        reasons.append(
            ReasonOut(
                text=f"the order is {order.usual:.1f} times the customer's usual invoice",
                source="policy",
            )
        )
    reasons.extend(risk_factors)
    target = risk_target(state.bundle)
    return OrderDecisionOut(
        customer_id=entry.customer_id,
        decision=verdict,
        reasons=reasons,
        risk_grade=order.grade.grade,
        p_default=optional(order.p_default),
        risk_target=target.name,
        very_late_days=target.days,
        expected_days_late=order.expected_days_late,
        credit_limit=limit,
        credit_limit_source=kind,
        approved_credit_limit=limit if kind == "approved" else None,
        suggested_credit_limit=entry.limit.amount,
        exposure=exposure_out(exposure),
        exposure_after_order=decision.exposure_after_order,
        model_version=state.bundle.model_version,
        as_of=order.as_of,
    )


def _entry_for(
    state: ServingState, engine: sa.Engine, customer_id: str, as_of: dt.date
) -> tuple[CustomerEntry, tuple[Reservation, ...] | None]:
    """The customer's entry on `as_of`, and its reservations (None: those in memory)."""
    if as_of == state.as_of:
        return state.entry(customer_id), None
    # Another day than the one cached: compute that customer's state from the store.
    found = state.entries_at(engine, [customer_id], as_of).get(customer_id)
    if found is None:
        raise UnknownEntityError(
            f"unknown customer {customer_id!r} on {as_of}: import the customer first, "
            "or check the id and the order date"
        )
    with engine.connect() as conn:
        held = active_reservations(conn, as_of=as_of, customer_ids=[customer_id])
    return found, held.get(customer_id, ())


def assess_order(
    state: ServingState,
    engine: sa.Engine,
    *,
    customer_id: str,
    amount: float,
    order_date: dt.date | None = None,
    payment_terms_days: int | None = None,
    currency: str | None = None,
    attributes: Mapping[str, object] | None = None,
    order_id: str | None = None,
) -> OrderDraft:
    """Decide an order from memory (no database for the serving day); see the module.

    Raises:
        UnknownEntityError: the customer is not known.
        InvalidRequestError: no exchange rate is known for the order's currency (or, when
            it names none, the customer's), or an attribute is not one the served model
            knows (`serving.attributes`).
    """
    as_of = order_date or state.as_of
    entry, held = _entry_for(state, engine, customer_id, as_of)
    code = (currency or entry.currency or state.base_currency).upper()
    given, amount = amount, in_base_currency(state, amount, code)
    converted = (
        f"the order of {given:,.2f} {code} is {amount:,.2f} {state.base_currency} at the "
        f"rate {state.rates[code]:g}"
        if code != state.base_currency
        else None
    )
    bundle, policy = state.bundle, state.policy
    values = new_invoice_features(
        entry.features,
        amount=amount,
        as_of=as_of,
        payment_terms_days=payment_terms_days,
        attributes=attribute_features(bundle, attributes),
    )
    x = bundle.row(values)
    # Graded by P(risk target) when the bundle has a risk model: the quantile models
    # (most of the trees) are then not needed for an order.
    scores = bundle.predict_row(x, quantiles=not bundle.has_default_model)
    p_default = float(scores.p_default[0])
    target = risk_target(bundle)
    # One grade per customer per day (`customer_grade`): the order's own risk is shown
    # beside it and can ask for a review, but never changes it.
    own = assess_grade(p_default, float(scores.days_late_p50[0]), policy=policy, target=target)
    own_text, own_review = order_risk(own, policy=policy)
    live = as_of == state.as_of
    if held is None:
        held = state.reservations.get(customer_id, ())
    if order_id is not None:  # asked again: its earlier reservation is replaced, not added
        held = tuple(r for r in held if r.order_id != order_id)
    order = _Order(
        entry=entry,
        as_of=as_of,
        amount=amount,
        order_id=order_id,
        grade=entry.grade,
        own_text=own_text,
        own_review=own_review,
        p_default=p_default,
        expected_days_late=float(scores.days_late[0]),
        usual=values.get("invoice_amount_vs_usual"),
        live=live,
        converted=converted,
    )
    answer = _answer(state, order, held)
    reserving = live and policy.reservation_days > 0 and answer.decision == "approve"
    return OrderDraft(
        answer=answer,
        order=order,
        needs_reservation=reserving,
        held=frozenset(r.reservation_id for r in held),
    )


def confirm_order(
    state: ServingState, engine: sa.Engine, draft: OrderDraft, *, wait: bool = True
) -> OrderDecisionOut:
    """Make an approval final: decide again with the store's reservations, under the
    customer's lock, and reserve its amount (one database transaction).

    Raises:
        UnknownEntityError: the customer is no longer in the store.
        StoreError: the store cannot be written (503): nothing is approved.
        StoreBusy: with `wait` False, the write would have to wait (nothing was done).
    """
    order = draft.order
    if not draft.needs_reservation:
        return draft.answer
    answers: list[OrderDecisionOut] = []

    def approve(others: tuple[Reservation, ...]) -> bool:
        if frozenset(r.reservation_id for r in others) == draft.held:
            answers.append(draft.answer)  # the store holds what memory held: same answer
        else:
            answers.append(_answer(state, order, others))
        return answers[-1].decision == "approve"

    try:
        done = reserve(
            engine,
            customer_id=order.entry.customer_id,
            amount=order.amount,
            decided_on=order.as_of,
            days=state.policy.reservation_days,
            approve=approve,
            order_id=order.order_id,
            known_invoices=order.entry.today.issued_on(order.as_of),
            wait=wait,
        )
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sqlite3.OperationalError) as exc:
        # No approval without its reservation: the order system asks again (503). A SQLite
        # file is written through sqlite3 itself (`serving.approvals_sqlite`).
        raise StoreError(
            "the store cannot confirm the approval now (it could not reserve the order's "
            f"amount: {type(exc).__name__}); ask again shortly"
        ) from exc
    state.remember_reservations(order.entry.customer_id, done.active)
    made = done.reservation
    if made is None:
        return answers[-1]
    out = ReservationOut(
        reservation_id=made.reservation_id,
        order_id=made.order_id,
        amount=made.amount,
        expires_on=made.expires_on,
    )
    return answers[-1].model_copy(update={"reservation": out})


def decide_order(
    state: ServingState,
    engine: sa.Engine,
    *,
    customer_id: str,
    amount: float,
    order_date: dt.date | None = None,
    payment_terms_days: int | None = None,
    currency: str | None = None,
    attributes: Mapping[str, object] | None = None,
    order_id: str | None = None,
) -> OrderDecisionOut:
    """Approve / review / decline an order of `amount` for a customer, with reasons
    (`assess_order`, then `confirm_order` for an approval of the serving day).

    Raises:
        UnknownEntityError: the customer is not known.
        InvalidRequestError: no exchange rate is known for the order's currency (or, when
            it names none, the customer's), or an attribute is not one the served model
            knows (`serving.attributes`).
    """
    draft = assess_order(
        state,
        engine,
        customer_id=customer_id,
        amount=amount,
        order_date=order_date,
        payment_terms_days=payment_terms_days,
        currency=currency,
        attributes=attributes,
        order_id=order_id,
    )
    return confirm_order(state, engine, draft)
