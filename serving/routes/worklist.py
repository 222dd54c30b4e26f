"""GET /v1/worklist: the day's collections worklist, by priority."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response

from serving.deps import CollectorKey, StateDep
from serving.errors import error_responses
from serving.schemas import WorklistOut
from serving.usecases.worklist import worklist_page

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["collections"])


@router.get(
    "/worklist",
    response_model=WorklistOut,
    summary="Who to remind, call or escalate",
    responses=error_responses(401, 403, 413, 422, 503),
)
async def get_worklist(
    _key: CollectorKey,  # before the state: no key is a 401 even while no model is loaded
    state: StateDep,
    limit: int | None = Query(
        default=None,
        ge=1,
        le=1000,
        description="Page size (default: the capacity, or the day's list when longer).",
    ),
    offset: int = Query(default=0, ge=0),
    collector: str | None = Query(
        default=None,
        max_length=255,
        description="Only the accounts assigned to this collector, and the team's accounts "
        "they last worked.",
    ),
    grade: Literal["A", "B", "C", "D", "E"] | None = Query(default=None),
    include_waiting: bool = Query(
        default=False,
        description="Also customers with nothing to do today (promise pending, next "
        "follow-up date not reached, nothing due yet), after those with work.",
    ),
) -> Response:
    """The day's list (each step's best customers by expected recovery within the collectors'
    capacity, then automated reminders), the overflow, and on request those waiting."""
    page = worklist_page(
        state,
        limit=limit,
        offset=offset,
        grade=grade,
        collector=collector,
        include_waiting=include_waiting,
    )
    # Serialised here, not validated again by FastAPI (see routes/orders.py).
    return Response(page.model_dump_json(), media_type="application/json")
