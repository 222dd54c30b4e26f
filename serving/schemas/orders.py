"""API models of the order decision (`POST /v1/orders/decision`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from serving.schemas.base import (
    Id,
    ReasonOut,
    RiskTargetOut,
    _amount,
    _example,
    _Request,
    _risk_target,
    _terms,
    _very_late_days,
)
from serving.schemas.invoices import AttributesIn

__all__ = ["ExposureOut", "OrderDecisionOut", "OrderDecisionRequest", "ReservationOut"]

_EXPOSURE_EXAMPLE = {
    "open_amount": 5128.0,
    "today_change": 4000.0,
    "reserved": 0.0,
    "reserved_orders": 0,
    "total": 9128.0,
}


class ExposureOut(BaseModel):
    """A customer's exposure now: open invoices (including today's), less today's
    payments, plus approved orders not yet invoiced."""

    model_config = _example(_EXPOSURE_EXAMPLE)
    open_amount: float = Field(description="Open at the start of the day.")
    today_change: float = Field(
        description="Invoices issued today minus payments, credit notes and write-offs dated today."
    )
    reserved: float = Field(description="Approved orders not yet invoiced (reservations).")
    reserved_orders: int = Field(description="How many approved orders `reserved` holds.")
    total: float = Field(description="The exposure: open + today's change + reserved.")


class ReservationOut(BaseModel):
    """The reservation an approval made: its amount counts until its invoice arrives."""

    model_config = _example(
        {
            "reservation_id": "3f1c0a9e5b7d4c2a8e6f1b0d9c7a5e3f",
            "order_id": "SO-1042",
            "amount": 2500.0,
            "expires_on": "2026-03-16",
        }
    )
    reservation_id: str
    order_id: str | None
    amount: float
    expires_on: dt.date = Field(
        description="First day it no longer counts, unless an invoice of at least its "
        "amount ends it sooner."
    )


class OrderDecisionRequest(_Request):
    """An order to be shipped on credit."""

    model_config = _example(
        {
            "customer_id": "C00001",
            "amount": 2500.0,
            "currency": "EUR",
            "order_date": "2026-03-02",
            "order_id": "SO-1042",
        }
    )
    customer_id: str = Id
    amount: float = _amount(description="Order amount, at least one cent.")
    currency: str | None = Field(
        default=None,
        min_length=3,
        max_length=3,
        description="Currency of the amount (default: the customer's). Converted to the "
        "base currency at its latest imported rate for the exposure check; 422 when no "
        "rate is known.",
    )
    order_date: dt.date | None = Field(
        default=None, description="Day of the decision (default: the serving date)."
    )
    payment_terms_days: int | None = _terms(
        description="Terms of this order (default: customer's)."
    )
    order_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The order system's reference: asking again about the same order "
        "replaces its reservation instead of adding one.",
    )
    attributes: AttributesIn


class OrderDecisionOut(BaseModel):
    """Approve, review or decline, with the numbers and reasons behind it."""

    model_config = _example(
        {
            "customer_id": "C00001",
            "decision": "approve",
            "reasons": [
                {
                    "text": "exposure after the order 7,730 is 64% of the limit 12,000",
                    "source": "policy",
                },
                {
                    "text": "paid 12 invoices 3 days late on average",
                    "source": "model",
                    "feature": "history_days_late_mean",
                    "effect": "lowers risk",
                },
            ],
            "risk_grade": "B",
            "p_default": 0.031,
            "risk_target": "default",
            "very_late_days": None,
            "expected_days_late": 4.2,
            "credit_limit": 12000.0,
            "credit_limit_source": "approved",
            "approved_credit_limit": 12000.0,
            "suggested_credit_limit": 10000.0,
            "exposure": {
                "open_amount": 5230.0,
                "today_change": 0.0,
                "reserved": 0.0,
                "reserved_orders": 0,
                "total": 5230.0,
            },
            "exposure_after_order": 7730.0,
            "reservation": {
                "reservation_id": "3f1c0a9e5b7d4c2a8e6f1b0d9c7a5e3f",
                "order_id": "SO-1042",
                "amount": 2500.0,
                "expires_on": "2026-03-16",
            },
            "model_version": "3",
            "as_of": "2026-03-02",
        }
    )
    customer_id: str
    decision: Literal["approve", "review", "decline"]
    reasons: list[ReasonOut]
    risk_grade: str
    p_default: float | None = Field(
        description="Calibrated probability of the risk target (risk_target); None when "
        "the model has no risk model."
    )
    risk_target: RiskTargetOut = _risk_target()
    very_late_days: int | None = _very_late_days()
    expected_days_late: float
    credit_limit: float = Field(description="The limit the order was checked against.")
    credit_limit_source: Literal["approved", "suggested"] = Field(
        description="approved: the customer's approved limit; suggested: it has none, so "
        "the suggested limit was used."
    )
    approved_credit_limit: float | None
    suggested_credit_limit: float
    exposure: ExposureOut = Field(description="The customer's exposure before the order.")
    exposure_after_order: float
    reservation: ReservationOut | None = Field(
        default=None,
        description="Set when the order was approved for today: its amount is reserved.",
    )
    model_version: str
    as_of: dt.date
