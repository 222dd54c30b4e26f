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
            "expected_recovery": 127419.0,
            "open_amount": 501234.0,
            "overdue_amount": 465116.0,
            "max_days_overdue": 269,
            "risk_grade": "E",
            "next_action": "escalate",
            "next_action_invoice": "INV-004411",
            "collector": "chloe",
            "today": True,
            "automated": False,
            "reasons": ["escalate: 91 days overdue, past the 30-day escalation point"],
            "last_action": None,
        }
    )
    rank: int
    customer_id: str
    name: str
    priority: float
    expected_loss: float
    expected_recovery: float = Field(
        description="What working it today should bring in: collectible money (open × "
        "(1 − P(default)) of the invoices with work today) × the step's collect rate − "
        "its cost (policy step_collect_rate, step_cost); ranks customers within a step."
    )
    open_amount: float
    overdue_amount: float
    max_days_overdue: int
    risk_grade: str
    next_action: str = Field(
        description="Work today: escalate, call, dispute_resolution, reminder. Waiting "
        "(only with include_waiting): follow_up_later (a reminder, call or escalation was "
        "logged lately; the first reason names the next follow-up date), wait_for_promise, "
        "await_credit_note (a dispute resolved as valid), none."
    )
    next_action_invoice: str | None
    collector: str | None = Field(
        description="The collector the account is assigned to (import column "
        "customers.collector); null: the team's shared queue."
    )
    today: bool = Field(description="On the day's list (within capacity, or automated).")
    automated: bool = Field(
        description="A reminder the system sends: on the day's list without collector capacity."
    )
    reasons: list[str]
    last_action: ActionOut | None


class WorklistOut(BaseModel):
    """A page of the day's worklist, by priority."""

    data: list[WorklistItemOut]
    count: int = Field(description="Items on this page.")
    total: int = Field(description="Customers matching the filters.")
    today: int = Field(
        description="Customers on the day's list matching the filters (listed first)."
    )
    capacity: int = Field(description="Items the collectors can work today (policy).")
    step_capacity: dict[str, int] = Field(
        description="Items per step today over the collectors' queues (policy step_capacity "
        "scaled to each collector's capacity); automated reminders take none."
    )
    reminders_automated: bool = Field(
        description="Reminders are sent by the system and take no collector capacity."
    )
    as_of: dt.date
    model_version: str
    risk_target: RiskTargetOut = _risk_target()
    very_late_days: int | None = _very_late_days()
