"""GET /v1/customers/{customer_id}: risk, suggested limit, exposure, reasons, actions."""

from __future__ import annotations

from fastapi import APIRouter, Path

from serving.auth import role_allows
from serving.deps import ScorerKey, StateDep
from serving.errors import error_responses
from serving.schemas import CustomerOut
from serving.usecases.customers import customer_view

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerOut,
    summary="A customer's grade, limit, exposure and reasons",
    responses=error_responses(401, 403, 404, 413, 422, 503, descriptions={404: "Unknown customer"}),
)
async def get_customer(
    key: ScorerKey,  # before the state: no key is a 401 even while no model is loaded
    state: StateDep,
    customer_id: str = Path(min_length=1, max_length=64, examples=["C00001"]),
) -> CustomerOut:
    """Grade and P(default) of a typical new invoice, suggested limit with its rationale.

    Collectors' notes (`text`, `author` of the recent actions) are shown to collector and
    admin keys only: an order system's scorer key needs the decision, not the notes.
    """
    view = customer_view(state, customer_id)
    if role_allows(key.role, "collector"):
        return view
    actions = [a.model_copy(update={"text": None, "author": None}) for a in view.recent_actions]
    return view.model_copy(update={"recent_actions": actions})
