"""POST /v1/invoices/score: P(default), days late and payment date of invoices."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from features.store import TABLE_OBJECTS
from serving.deps import EngineDep, LimitedScorerKey, StateDep
from serving.errors import WRITE_STATUSES, error_responses
from serving.schemas import InvoiceScoreRequest, InvoicesScoredOut
from serving.usecases.invoices import score_invoices

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["decisions"])
_invoices = TABLE_OBJECTS["invoices"]


@router.post(
    "/invoices/score",
    response_model=InvoicesScoredOut,
    summary="Score open invoices by id, or new invoices",
    responses=error_responses(
        *WRITE_STATUSES,
        descriptions={
            404: "Unknown invoice or customer",
            409: "The invoice is not open at the serving date",
        },
    ),
)
def score(
    # The key first: no key is a 401 (and a spent rate a 429) even while no model is loaded.
    _key: LimitedScorerKey,
    body: InvoiceScoreRequest,
    state: StateDep,
    engine: EngineDep,
) -> InvoicesScoredOut:
    """Per invoice: P(default), days late p10/p50/p90, payment dates, expected loss, reasons."""

    def owner_of(invoice_id: str) -> str | None:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(_invoices.c.customer_id).where(_invoices.c.invoice_id == invoice_id)
            ).scalar()

    return score_invoices(
        state, invoice_ids=body.invoice_ids, new_invoices=body.invoices, owner_of=owner_of
    )
