"""API models of a customer (`GET /v1/customers/{customer_id}`) and of its approved
credit limit (`PUT /v1/customers/{customer_id}/credit-limit`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from kernel import limits
from serving.schemas.actions import ActionOut
from serving.schemas.base import (
    ReasonOut,
    RiskTargetOut,
    _example,
    _Request,
    _risk_target,
    _very_late_days,
)
from serving.schemas.orders import ExposureOut

__all__ = [
    "CreditLimitChangeOut",
    "CreditLimitOut",
    "CreditLimitRequest",
    "CreditLimitsOut",
    "CustomerOut",
]


_LIMIT_EXAMPLE = {
    "current": 8000.0,
    "suggested": 6000.0,
    "cold_start": False,
    "rationale": ["typical monthly sales 1,116 × (30 + 15 days) / 30 = 1,673"],
}


class CreditLimitOut(BaseModel):
    """The approved credit limit (`current`), and the suggested one with its rationale."""

    model_config = _example(_LIMIT_EXAMPLE | {"checked_against": "approved"})
    current: float | None = Field(
        description="The approved limit orders are checked against (imported, or set "
        "with PUT /v1/customers/{id}/credit-limit); None: none approved."
    )
    suggested: float = Field(description="duecast's advice, explained by `rationale`.")
    cold_start: bool
    rationale: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def checked_against(self) -> Literal["approved", "suggested"]:
        """Which limit orders are checked against: the suggested one without an approved one."""
        return "suggested" if self.current is None else "approved"


class CreditLimitRequest(_Request):
    """A credit manager's approved limit for a customer, and why."""

    model_config = _example({"limit": 12000.0, "reason": "annual review: accounts filed 2026"})
    limit: float = Field(
        ge=0.0,
        le=limits.AMOUNT_MAX,
        allow_inf_nan=False,
        description="The approved limit (0 = no credit: every order declined).",
    )
    reason: str = Field(min_length=3, max_length=500, description="Why, for the log.")


class CreditLimitChangeOut(BaseModel):
    """One logged change of an approved limit."""

    model_config = _example(
        {
            "at": "2026-03-02T09:30:00Z",
            "previous_limit": 8000.0,
            "new_limit": 12000.0,
            "author": "credit desk",
            "reason": "annual review: accounts filed 2026",
        }
    )
    at: dt.datetime
    previous_limit: float | None
    new_limit: float
    author: str = Field(description="The name of the API key that made the change.")
    reason: str


class CreditLimitsOut(BaseModel):
    """A customer's approved limit after a change, and its latest changes (newest first)."""

    model_config = _example(
        {
            "customer_id": "C00001",
            "approved_limit": 12000.0,
            "history": [
                {
                    "at": "2026-03-02T09:30:00Z",
                    "previous_limit": 8000.0,
                    "new_limit": 12000.0,
                    "author": "credit desk",
                    "reason": "annual review: accounts filed 2026",
                }
            ],
        }
    )
    customer_id: str
    approved_limit: float
    history: list[CreditLimitChangeOut]


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
            "exposure": {
                "open_amount": 5230.0,
                "today_change": 0.0,
                "reserved": 2500.0,
                "reserved_orders": 1,
                "total": 7730.0,
            },
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
    currency: str | None = Field(
        description="The currency the customer is invoiced in; the amounts here are in the "
        "base currency (converted on import)."
    )
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
    exposure: ExposureOut = Field(
        description="Real-time exposure: open invoices including today's, minus today's "
        "payments, plus approved orders not yet invoiced."
    )
    open_invoices: int
    reasons: list[ReasonOut]
    recent_actions: list[ActionOut]
    model_version: str
    as_of: dt.date
