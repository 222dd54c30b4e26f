"""POST /v1/events/invoices and /v1/events/payments: the ERP feed, idempotent by id."""

from __future__ import annotations

import datetime as dt
from functools import partial

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from serving.deps import EngineDep, LimitedAdminKey, RuntimeDep, SettingsDep
from serving.errors import WRITE_STATUSES, error_responses
from serving.schemas import EventOut, InvoiceEventRequest, PaymentEventRequest
from serving.writes import WriteResult, record_invoice, record_payment

__all__ = ["router"]

router = APIRouter(prefix="/v1/events", tags=["events"])

_RESPONSES = {
    200: {"model": EventOut, "description": "Already stored (unchanged) or updated"},
    **error_responses(
        *WRITE_STATUSES,
        descriptions={
            404: "Unknown customer / invoice",
            409: "The invoice belongs to another customer",
        },
    ),
}


def _out(result: WriteResult, day: dt.date, response: Response) -> EventOut:
    if result.status != "created":
        response.status_code = 200
    return EventOut(
        id=result.id,
        customer_id=result.customer_id,
        status=result.status,
        counts_from=day + dt.timedelta(days=1),
    )


@router.post(
    "/invoices",
    response_model=EventOut,
    status_code=201,
    summary="A new or changed invoice",
    responses=_RESPONSES,
)
async def invoice_event(
    body: InvoiceEventRequest,
    response: Response,
    engine: EngineDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    _key: LimitedAdminKey,
) -> EventOut:
    """Store the invoice, its amount in the base currency; the customer's next score
    includes it (from the day after issue). A currency with no stored rate is a 422."""
    base = settings.base_currency
    result = await run_in_threadpool(
        partial(record_invoice, base_currency=base), engine, body.model_dump()
    )
    await runtime.catch_up()
    return _out(result, body.issue_date, response)


@router.post(
    "/payments",
    response_model=EventOut,
    status_code=201,
    summary="A payment",
    responses=_RESPONSES,
)
async def payment_event(
    body: PaymentEventRequest,
    response: Response,
    engine: EngineDep,
    runtime: RuntimeDep,
    _key: LimitedAdminKey,
) -> EventOut:
    """Store the payment; the customer's next score includes it (from the day after)."""
    result = await run_in_threadpool(record_payment, engine, body.model_dump())
    await runtime.catch_up()
    return _out(result, body.payment_date, response)
