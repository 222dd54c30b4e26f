"""API models of a customer (`GET /v1/customers/{customer_id}`)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from serving.schemas.actions import ActionOut
from serving.schemas.base import (
    ReasonOut,
    RiskTargetOut,
    _example,
    _risk_target,
    _very_late_days,
)

__all__ = ["CreditLimitOut", "CustomerOut"]


_LIMIT_EXAMPLE = {
    "current": 8000.0,
    "suggested": 6000.0,
    "cold_start": False,
    "rationale": ["typical monthly sales 1,116 × (30 + 15 days) / 30 = 1,673"],
}


class CreditLimitOut(BaseModel):
    """A suggested credit limit and its rationale."""

    model_config = _example(_LIMIT_EXAMPLE)
    current: float | None
    suggested: float
    cold_start: bool
    rationale: list[str]


class CustomerOut(BaseModel):
    """A customer's risk, limit, exposure and reasons."""

    model_config = _example(
        {
            "customer_id": "C00001",
            "name": "Alder Print AG",
            "currency": "EUR",
            "risk_grade": "B",
            "grade_reason": "grade B: 3.1% chance of default",
            "p_default": 0.031,
            "risk_target": "default",
            "very_late_days": None,
            "expected_days_late": 4.2,
            "typical_invoice_amount": 1860.0,
            "credit_limit": _LIMIT_EXAMPLE,
            "open_amount": 5230.0,
            "overdue_amount": 1200.0,
            "open_invoices": 3,
            "reasons": [
                {
                    "text": "paid 12 invoices 3 days late on average",
                    "source": "model",
                    "feature": "history_days_late_mean",
                    "effect": "lowers risk",
                }
            ],
            "recent_actions": [],
            "model_version": "3",
            "as_of": "2026-03-02",
        }
    )
    customer_id: str
    name: str
    currency: str | None
    risk_grade: str
    grade_reason: str
    p_default: float | None = Field(
        description="Probability of the risk target (risk_target) of a typical new invoice "
        "(usual amount)."
    )
    risk_target: RiskTargetOut = _risk_target()
    very_late_days: int | None = _very_late_days()
    expected_days_late: float
    typical_invoice_amount: float
    credit_limit: CreditLimitOut
    open_amount: float
    overdue_amount: float
    open_invoices: int
    reasons: list[ReasonOut]
    recent_actions: list[ActionOut]
    model_version: str
    as_of: dt.date
