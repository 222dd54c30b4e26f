"""API models of invoice and payment events (`POST /v1/events/...`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from serving.schemas.base import Id, _amount, _example, _Request

__all__ = ["EventOut", "InvoiceEventRequest", "PaymentEventRequest"]


class InvoiceEventRequest(_Request):
    """An invoice from the ERP (new or changed); idempotent by invoice_id."""

    model_config = _example(
        {
            "invoice_id": "INV-900001",
            "customer_id": "C00001",
            "issue_date": "2026-03-01",
            "due_date": "2026-03-31",
            "amount": 1840.5,
            "currency": "EUR",
        }
    )
    invoice_id: str = Id
    customer_id: str = Id
    issue_date: dt.date
    # JSON Schema cannot compare two fields: the rule is told in words (422 otherwise).
    due_date: dt.date = Field(description="Not before issue_date.")
    amount: float = _amount()
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    disputed: bool = False
    dispute_date: dt.date | None = Field(default=None, description="Not before issue_date.")

    @model_validator(mode="after")
    def _dates(self) -> InvoiceEventRequest:
        if self.due_date < self.issue_date:
            raise ValueError("due_date is before issue_date")
        if self.dispute_date is not None and self.dispute_date < self.issue_date:
            raise ValueError("dispute_date is before issue_date")
        return self


class PaymentEventRequest(_Request):
    """A payment from the ERP; idempotent by payment_id."""

    model_config = _example(
        {
            "payment_id": "PAY-900001",
            "invoice_id": "INV-900001",
            "payment_date": "2026-03-01",
            "amount": 1840.5,
        }
    )
    payment_id: str = Id
    invoice_id: str = Id
    customer_id: str | None = Field(default=None, max_length=64)
    payment_date: dt.date
    amount: float = _amount()


class EventOut(BaseModel):
    """What an event did."""

    model_config = _example(
        {
            "id": "INV-900001",
            "customer_id": "C00001",
            "status": "created",
            "counts_from": "2026-03-02",
        }
    )
    id: str
    customer_id: str
    status: Literal["created", "updated", "unchanged"]
    counts_from: dt.date = Field(
        description="First decision day whose features include it (features use events "
        "dated strictly before the decision day)."
    )
