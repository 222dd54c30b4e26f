"""API models of the worklist (`GET /v1/worklist`)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from serving.schemas.actions import ActionOut
from serving.schemas.base import RiskTargetOut, _example, _risk_target, _very_late_days

__all__ = ["WorklistItemOut", "WorklistOut"]


class WorklistItemOut(BaseModel):
    """One customer on the worklist."""

    model_config = _example(
        {
            "rank": 1,
            "customer_id": "C00026",
            "name": "Birch Retail SA",
            "priority": 78239.3,
            "expected_loss": 75000.0,
            "open_amount": 501234.0,
            "overdue_amount": 465116.0,
            "max_days_overdue": 269,
            "risk_grade": "E",
            "next_action": "escalate",
            "next_action_invoice": "INV-004411",
            "reasons": ["escalate: 91 days overdue, past the 30-day escalation point"],
            "last_action": None,
        }
    )
    rank: int
    customer_id: str
    name: str
    priority: float
    expected_loss: float
    open_amount: float
    overdue_amount: float
    max_days_overdue: int
    risk_grade: str
    next_action: str = Field(
        description="Work today: escalate, call, dispute_resolution, reminder. Waiting "
        "(only with include_waiting): follow_up_later (a reminder, call or escalation was "
        "logged lately; the first reason names the next follow-up date), wait_for_promise, "
        "none."
    )
    next_action_invoice: str | None
    reasons: list[str]
    last_action: ActionOut | None


class WorklistOut(BaseModel):
    """A page of the day's worklist, by priority."""

    data: list[WorklistItemOut]
    count: int = Field(description="Items on this page.")
    total: int = Field(description="Customers matching the filters.")
    capacity: int = Field(description="Items the collectors can work today (policy).")
    as_of: dt.date
    model_version: str
    risk_target: RiskTargetOut = _risk_target()
    very_late_days: int | None = _very_late_days()
