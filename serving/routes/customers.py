"""GET /v1/customers/{customer_id}: risk, suggested limit, exposure, reasons, actions."""

from __future__ import annotations

from fastapi import APIRouter, Path

from serving.deps import ScorerKey, StateDep
from serving.schemas import CustomerOut
from serving.scoring import customer_view

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerOut,
    summary="A customer's grade, limit, exposure and reasons",
    responses={404: {"description": "Unknown customer"}},
)
async def get_customer(
    state: StateDep,
    _key: ScorerKey,
    customer_id: str = Path(min_length=1, max_length=64, examples=["C00001"]),
) -> CustomerOut:
    """Grade and P(default) of a typical new invoice, suggested limit with its rationale."""
    return customer_view(state, customer_id)
