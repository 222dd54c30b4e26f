"""API models of collectors' actions (`POST /v1/actions`, shown with customers and the worklist)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import BaseModel, Field, model_validator

from kernel.schema import ACTION_KINDS, DISPUTE_OUTCOMES, DisputeOutcome, LoggedActionKind
from serving.schemas.base import Id, _amount, _example, _Request

__all__ = ["ActionOut", "ActionRequest"]


class ActionOut(BaseModel):
    """A logged collections action."""

    model_config = _example(
        {
            "action_id": "api-3f2a9c",
            "customer_id": "C00001",
            "invoice_id": "INV-000123",
            "at": "2026-03-02T09:30:00Z",
            "kind": "promise",
            "promised_date": "2026-03-09",
            "promised_amount": 1200.0,
            "author": "chloe",
            "text": "AP promised to pay next Monday",
        }
    )
    action_id: str | None = None
    customer_id: str
    invoice_id: str | None = None
    at: dt.datetime
    kind: str
    promised_date: dt.date | None = None
    promised_amount: float | None = None
    author: str | None = None
    text: str | None = None
    outcome: str | None = None


class ActionRequest(_Request):
    """A collections action logged by a collector.

    A `dispute` pauses dunning of the invoice it names (or of every invoice of the
    customer) until a `resolve` with `outcome` valid (a credit note is expected: the
    invoice stays out of dunning) or invalid (dunning resumes). A `promise` pauses the
    invoices its amount covers, oldest first, until `promised_date` (not before today).
    """

    model_config = _example(
        {
            "customer_id": "C00001",
            "invoice_id": "INV-000123",
            "kind": "promise",
            "promised_date": "2026-03-09",
            "promised_amount": 1200.0,
            "author": "chloe",
            "text": "AP promised to pay next Monday",
        }
    )
    customer_id: str = Id
    invoice_id: str | None = Field(default=None, max_length=64)
    kind: LoggedActionKind
    at: dt.datetime | None = Field(default=None, description="Default: now.")
    promised_date: dt.date | None = Field(
        default=None, description="For a promise: the day it is to be paid by, not before today."
    )
    promised_amount: float | None = _amount(default=None)
    author: str | None = Field(default=None, max_length=255)
    text: str | None = Field(default=None, max_length=4000)
    outcome: DisputeOutcome | None = Field(
        default=None,
        description="For kind 'resolve' only: valid (a credit note is expected) or invalid "
        "(dunning resumes).",
    )
    _schema_rules: ClassVar[dict[str, Any]] = {
        # `_fields_fit_the_kind`: a promise has a date, a resolve an outcome; nothing
        # else has a date, an amount or an outcome.
        "anyOf": [
            {
                "required": ["kind", "promised_date"],
                "properties": {
                    "kind": {"const": "promise"},
                    "promised_date": {"type": "string"},
                    "outcome": {"type": "null"},
                },
            },
            {
                "required": ["kind", "outcome"],
                "properties": {
                    "kind": {"const": "resolve"},
                    "outcome": {"enum": list(DISPUTE_OUTCOMES)},
                    "promised_date": {"type": "null"},
                    "promised_amount": {"type": "null"},
                },
            },
            {
                "properties": {
                    "kind": {"enum": [k for k in ACTION_KINDS if k not in ("promise", "resolve")]},
                    "promised_date": {"type": "null"},
                    "promised_amount": {"type": "null"},
                    "outcome": {"type": "null"},
                }
            },
        ]
    }

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> ActionRequest:
        if self.kind == "promise" and self.promised_date is None:
            raise ValueError("a promise to pay needs promised_date")
        if self.kind != "promise" and (
            self.promised_date is not None or self.promised_amount is not None
        ):
            raise ValueError("promised_date and promised_amount belong to a 'promise' only")
        if self.kind == "resolve" and self.outcome is None:
            raise ValueError("a 'resolve' needs outcome: valid or invalid")
        if self.kind != "resolve" and self.outcome is not None:
            raise ValueError("outcome belongs to a 'resolve' only")
        return self
