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

__all__ = ["OrderDecisionOut", "OrderDecisionRequest"]


class OrderDecisionRequest(_Request):
    """An order to be shipped on credit."""

    model_config = _example(
        {"customer_id": "C00001", "amount": 2500.0, "currency": "EUR", "order_date": "2026-03-02"}
    )
    customer_id: str = Id
    amount: float = _amount(description="Order amount, at least one cent.")
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="Must match the customer's."
    )
    order_date: dt.date | None = Field(
        default=None, description="Day of the decision (default: the serving date)."
    )
    payment_terms_days: int | None = _terms(
        description="Terms of this order (default: customer's)."
    )


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
            "suggested_credit_limit": 12000.0,
            "exposure_after_order": 7730.0,
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
    suggested_credit_limit: float
    exposure_after_order: float
    model_version: str
    as_of: dt.date
