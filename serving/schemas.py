"""Request and response models of the REST API, each with an OpenAPI example.

Requests and responses are separate models (`...Request` / `...Out`); amounts are in
the customer's currency; dates are ISO dates.

Every request model derives from `_Request`, whose one validator holds every date and
text of the body to the bounds of `duecast.limits` (the import holds files to the same):
a date outside `DUECAST_DATE_MIN .. DUECAST_DATE_MAX` (a datetime by its UTC day) or a
control character in a text is a 422 naming the field, before anything is stored. The
range is read from `duecast.config.get_settings()` when a body is validated: class
definitions cannot see settings, and FastAPI passes no validation context to bodies.

The OpenAPI tells the same: `_Request` writes the bounds into each body's JSON schema as
`pattern`s (dates from the settings read when the document is built) and each model's
cross-field rules as `_schema_rules`, so a body the schema admits is one the validators
accept. Two rules JSON Schema cannot say are in words only: an invoice's due and dispute
dates not before its issue date, and no lone surrogate in a text (see `duecast.limits`).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from duecast import limits
from duecast.schema import ACTION_KINDS

__all__ = [
    "ActionOut",
    "ActionRequest",
    "CreditLimitOut",
    "CustomerOut",
    "DaysLateOut",
    "EventOut",
    "HealthOut",
    "InvoiceEventRequest",
    "InvoiceScoreOut",
    "InvoiceScoreRequest",
    "InvoicesScoredOut",
    "ModelOut",
    "NewInvoice",
    "OrderDecisionOut",
    "OrderDecisionRequest",
    "PaymentEventRequest",
    "ReadyOut",
    "ReasonOut",
    "WorklistItemOut",
    "WorklistOut",
]

Id = Field(min_length=1, max_length=64)
# Largest batch of invoices scored in one request.
MAX_SCORE_BATCH = 1000


def _amount(**kwargs: object) -> Any:
    """An amount field: one cent to `limits.AMOUNT_MAX`, never NaN or infinite."""
    return Field(ge=limits.AMOUNT_MIN, le=limits.AMOUNT_MAX, allow_inf_nan=False, **kwargs)


def _terms(**kwargs: object) -> Any:
    return Field(default=None, ge=0, le=limits.TERMS_DAYS_MAX, **kwargs)


def _example(example: dict) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]}, extra="forbid")


class _Request(BaseModel):
    """Base of request bodies: every date, datetime and text within `duecast.limits`."""

    # What the model's own validators demand beyond its fields, in JSON-schema words.
    _schema_rules: ClassVar[dict[str, Any]] = {}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The model's JSON schema, with the bounds `_within_limits` enforces as patterns."""
        json_schema = handler(core_schema)
        model_schema = handler.resolve_ref_schema(json_schema)
        for name, field_schema in model_schema.get("properties", {}).items():
            _add_patterns(field_schema, _text_pattern(name))
        model_schema.update(copy.deepcopy(cls._schema_rules))
        return json_schema

    @field_validator("*", mode="after")
    @classmethod
    def _within_limits(cls, value: Any, info: ValidationInfo) -> Any:
        field = info.field_name or "value"
        for item in value if isinstance(value, list) else (value,):
            problem = None
            if isinstance(item, dt.date):  # a datetime is a date too
                problem = limits.date_problem(item, field)
            elif isinstance(item, str):
                problem = limits.text_problem(item, field)
            if problem is not None:
                raise ValueError(problem)
        return value


def _text_pattern(field: str) -> str:
    return limits.FREE_TEXT_PATTERN if field in limits.FREE_TEXT_FIELDS else limits.TEXT_PATTERN


def _add_patterns(node: Any, text_pattern: str) -> None:
    """Give every string in a property's schema (optional, list item) its pattern.

    Dates and datetimes get the range of the settings read now, when the OpenAPI is
    built, as `_within_limits` reads them when a body is validated; other models (a
    `$ref`) get their own; enumerated strings need none.
    """
    if isinstance(node, list):
        for item in node:
            _add_patterns(item, text_pattern)
        return
    if not isinstance(node, dict) or "$ref" in node:
        return
    if node.get("type") == "string" and not {"enum", "const", "pattern"} & node.keys():
        kind = node.get("format")
        if kind == "date":
            node["pattern"] = limits.date_pattern()
        elif kind == "date-time":
            node["pattern"] = limits.datetime_pattern()
        elif kind is None:
            node["pattern"] = text_pattern
    for key in ("anyOf", "oneOf", "allOf", "items", "prefixItems"):
        if key in node:
            _add_patterns(node[key], text_pattern)


class ReasonOut(BaseModel):
    """One reason: a sentence, where it comes from, and which way it pushes."""

    model_config = _example(
        {
            "text": "paid 12 invoices 23 days late on average",
            "source": "model",
            "feature": "history_days_late_mean",
            "effect": "raises risk",
        }
    )
    text: str
    source: Literal["model", "policy"]
    feature: str | None = None
    effect: str | None = None


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
    p_default: float | None = Field(description="None when the model has no default model.")
    expected_days_late: float
    suggested_credit_limit: float
    exposure_after_order: float
    model_version: str
    as_of: dt.date


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
    p_default: float | None = Field(description="Of a typical new invoice (usual amount).")
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


class NewInvoice(_Request):
    """An invoice not in the store yet, to score as if issued now."""

    model_config = _example({"customer_id": "C00001", "amount": 1500.0, "invoice_id": "Q-17"})
    customer_id: str = Id
    amount: float = _amount()
    invoice_id: str | None = Field(default=None, max_length=64)
    issue_date: dt.date | None = None
    payment_terms_days: int | None = _terms()


class InvoiceScoreRequest(_Request):
    """Known open invoices by id, and / or new invoices."""

    model_config = _example(
        {"invoice_ids": ["INV-000123"], "invoices": [{"customer_id": "C00001", "amount": 1500.0}]}
    )
    invoice_ids: list[str] = Field(default_factory=list, max_length=MAX_SCORE_BATCH)
    invoices: list[NewInvoice] = Field(default_factory=list, max_length=MAX_SCORE_BATCH)
    _schema_rules = {
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
    p_default: float | None
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


class ActionRequest(_Request):
    """A collections action logged by a collector."""

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
    kind: Literal[ACTION_KINDS]  # type: ignore[valid-type]
    at: dt.datetime | None = Field(default=None, description="Default: now.")
    promised_date: dt.date | None = None
    promised_amount: float | None = _amount(default=None)
    author: str | None = Field(default=None, max_length=255)
    text: str | None = Field(default=None, max_length=4000)
    _schema_rules = {
        # `_promise_has_date`: a promise has a date; nothing else has a date or an amount.
        "anyOf": [
            {
                "required": ["kind", "promised_date"],
                "properties": {"kind": {"const": "promise"}, "promised_date": {"type": "string"}},
            },
            {
                "properties": {
                    "kind": {"enum": [k for k in ACTION_KINDS if k != "promise"]},
                    "promised_date": {"type": "null"},
                    "promised_amount": {"type": "null"},
                }
            },
        ]
    }

    @model_validator(mode="after")
    def _promise_has_date(self) -> ActionRequest:
        if self.kind == "promise" and self.promised_date is None:
            raise ValueError("a promise to pay needs promised_date")
        if self.kind != "promise" and (self.promised_date or self.promised_amount):
            raise ValueError("promised_date and promised_amount belong to a 'promise' only")
        return self


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


class ModelOut(BaseModel):
    """The model being served."""

    model_config = _example(
        {
            "model_version": "3",
            "trained_at": "2026-03-01T22:10:00+00:00",
            "as_of": "2026-03-01",
            "feature_set_version": "2",
            "horizon_days": 90,
            "default_model": True,
            "default_unavailable_reason": None,
            "metrics": {"default": {"model": {"roc_auc": 0.81}}},
            "thresholds": {"A": 0.02, "B": 0.05, "C": 0.1, "D": 0.2},
            "serving_as_of": "2026-03-02",
            "loaded_at": "2026-03-02T07:00:00Z",
            "customers": 10000,
        }
    )
    model_version: str
    trained_at: str
    as_of: str
    feature_set_version: str
    horizon_days: int
    default_model: bool
    default_unavailable_reason: str | None
    metrics: dict
    thresholds: dict[str, float]
    serving_as_of: dt.date
    loaded_at: dt.datetime
    customers: int


class HealthOut(BaseModel):
    """Liveness."""

    model_config = _example({"status": "ok"})
    status: str


class ReadyOut(BaseModel):
    """Readiness: a model is loaded and the database answers.

    "degraded" (still 200): serving, but some customers answer 503 (their stored rows
    cannot be read); `customers_not_served` counts them, the log names them.
    """

    model_config = _example({"status": "ready", "model_version": "3", "database": "ok"})
    status: Literal["ready", "degraded", "not ready"]
    model_version: str | None
    database: str
    detail: str | None = None
    customers_not_served: int = 0
    last_reload_error: str | None = Field(
        default=None, description="Why the last reload failed (the old model kept serving)."
    )
