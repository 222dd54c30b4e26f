"""Request and response models of the REST API, each with an OpenAPI example.

Requests and responses are separate models (`...Request` / `...Out`); amounts are in
the base currency (`DUECAST_BASE_CURRENCY`; an order may name its own, converted at the
latest imported rate, `features.currency`); dates are ISO dates.

Every request model derives from `_Request`, whose one validator holds every date and
text of the body to the bounds of `kernel.limits` (the import holds files to the same):
a date outside `DUECAST_DATE_MIN .. DUECAST_DATE_MAX` (a datetime by its UTC day) or a
control character in a text is a 422 naming the field, before anything is stored. The
range is read from `kernel.config.get_settings()` when a body is validated: class
definitions cannot see settings, and FastAPI passes no validation context to bodies.

The OpenAPI tells the same: `_Request` writes the bounds into each body's JSON schema as
`pattern`s (dates from the settings read when the document is built) and each model's
cross-field rules as `_schema_rules`, so a body the schema admits is one the validators
accept. Two rules JSON Schema cannot say are in words only: an invoice's due and dispute
dates not before its issue date, and no lone surrogate in a text (see `kernel.limits`).

One module per use case (orders, invoices, customers, worklist, actions, events, service),
on `base` (the request base and shared field helpers); every name is re-exported here.
"""

from __future__ import annotations

from serving.schemas.actions import ActionOut, ActionRequest
from serving.schemas.base import ReasonOut
from serving.schemas.base import _Request as _Request  # the base of every request model
from serving.schemas.customers import (
    CreditLimitChangeOut,
    CreditLimitOut,
    CreditLimitRequest,
    CreditLimitsOut,
    CustomerOut,
)
from serving.schemas.events import EventOut, InvoiceEventRequest, PaymentEventRequest
from serving.schemas.invoices import (
    DaysLateOut,
    InvoiceScoreOut,
    InvoiceScoreRequest,
    InvoicesScoredOut,
    NewInvoice,
)
from serving.schemas.orders import (
    ExposureOut,
    OrderDecisionOut,
    OrderDecisionRequest,
    ReservationOut,
)
from serving.schemas.service import HealthOut, ModelOut, ReadyOut
from serving.schemas.worklist import WorklistItemOut, WorklistOut

__all__ = [
    "ActionOut",
    "ActionRequest",
    "CreditLimitChangeOut",
    "CreditLimitOut",
    "CreditLimitRequest",
    "CreditLimitsOut",
    "CustomerOut",
    "DaysLateOut",
    "EventOut",
    "ExposureOut",
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
    "ReservationOut",
    "WorklistItemOut",
    "WorklistOut",
]
