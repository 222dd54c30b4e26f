"""API models of invoice scoring (`POST /v1/invoices/score`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field, StringConstraints, model_validator

from features.attributes import ATTRIBUTE_NAME_PATTERN, ATTRIBUTE_TEXT_MAX
from kernel import limits
from serving.schemas.base import (
    MAX_SCORE_BATCH,
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

__all__ = [
    "AttributesIn",
    "DaysLateOut",
    "InvoiceScoreOut",
    "InvoiceScoreRequest",
    "InvoicesScoredOut",
    "NewInvoice",
]

# An invoice's issue-time attributes (`features.attributes`), by name: a text for a
# category, a number for a number, null for unknown. Names and kinds are checked
# against the served model by `serving.attributes` (422 naming the known ones).
_AttributeValue = (
    Annotated[
        str,
        StringConstraints(strict=True, max_length=ATTRIBUTE_TEXT_MAX, pattern=limits.TEXT_PATTERN),
    ]
    | Annotated[float, Field(strict=True, allow_inf_nan=False)]
    | None
)
AttributesIn = Annotated[
    dict[Annotated[str, StringConstraints(pattern=ATTRIBUTE_NAME_PATTERN)], _AttributeValue] | None,
    Field(
        default=None,
        max_length=50,
        description="Issue-time attributes the served model was trained with, by name "
        '(e.g. {"channel": "paper"}); left out or null = unknown.',
    ),
]


class NewInvoice(_Request):
    """An invoice not in the store yet, to score as if issued now."""

    model_config = _example({"customer_id": "C00001", "amount": 1500.0, "invoice_id": "Q-17"})
    customer_id: str = Id
    amount: float = _amount()
    invoice_id: str | None = Field(default=None, max_length=64)
    issue_date: dt.date | None = None
    payment_terms_days: int | None = _terms()
    attributes: AttributesIn


class InvoiceScoreRequest(_Request):
    """Known open invoices by id, and / or new invoices."""

    model_config = _example(
        {"invoice_ids": ["INV-000123"], "invoices": [{"customer_id": "C00001", "amount": 1500.0}]}
    )
    invoice_ids: list[str] = Field(default_factory=list, max_length=MAX_SCORE_BATCH)
    invoices: list[NewInvoice] = Field(default_factory=list, max_length=MAX_SCORE_BATCH)
    _schema_rules: ClassVar[dict[str, Any]] = {
        # `_not_empty`: at least one id or one new invoice.
        "anyOf": [
            {"required": ["invoice_ids"], "properties": {"invoice_ids": {"minItems": 1}}},
            {"required": ["invoices"], "properties": {"invoices": {"minItems": 1}}},
        ]
    }

    @model_validator(mode="after")
    def _not_empty(self) -> InvoiceScoreRequest:
        if not self.invoice_ids and not self.invoices:
            raise ValueError("give invoice_ids of open invoices and/or new invoices to score")
        return self


class DaysLateOut(BaseModel):
    """Predicted days late (settlement − due date): mean and quantiles."""

    mean: float
    p10: float
    p50: float
    p90: float


class InvoiceScoreOut(BaseModel):
    """Scores of one invoice."""

    model_config = _example(
        {
            "invoice_id": "INV-000123",
            "customer_id": "C00001",
            "known": True,
            "amount": 1500.0,
            "open_amount": 1500.0,
            "due_date": "2026-03-15",
            "p_default": 0.04,
            "risk_target": "default",
            "very_late_days": None,
            "days_late": {"mean": 6.1, "p10": -2.0, "p50": 4.0, "p90": 21.0},
            "predicted_payment_date": "2026-03-19",
            "payment_date_p10": "2026-03-13",
            "payment_date_p90": "2026-04-05",
            "expected_loss": 60.0,
            "reasons": [],
        }
    )
    invoice_id: str
    customer_id: str
    known: bool = Field(description="True for an invoice in the store.")
    amount: float
    open_amount: float
    due_date: dt.date
    p_default: float | None = Field(
        description="Calibrated probability of the risk target (risk_target), given that "
        "the invoice is unpaid on the serving date."
    )
    risk_target: RiskTargetOut = _risk_target()
    very_late_days: int | None = _very_late_days()
    days_late: DaysLateOut
    predicted_payment_date: dt.date
    payment_date_p10: dt.date
    payment_date_p90: dt.date
    expected_loss: float | None
    reasons: list[ReasonOut]


class InvoicesScoredOut(BaseModel):
    """Scored invoices, in request order (known ids first)."""

    data: list[InvoiceScoreOut]
    count: int
    model_version: str
    as_of: dt.date
