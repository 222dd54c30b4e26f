"""GET /v1/customers/{customer_id}: risk, limits, exposure, reasons, actions; and
PUT /v1/customers/{customer_id}/credit-limit: a credit manager's approved limit."""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from serving.auth import role_allows
from serving.deps import AdminKey, EngineDep, RuntimeDep, ScorerKey, StateDep
from serving.errors import error_responses
from serving.schemas import CustomerOut
from serving.schemas.customers import CreditLimitChangeOut, CreditLimitRequest, CreditLimitsOut
from serving.usecases.customers import customer_view
from serving.writes import set_credit_limit

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


@router.put(
    "/customers/{customer_id}/credit-limit",
    response_model=CreditLimitsOut,
    summary="Set a customer's approved credit limit (logged with author and reason)",
    # Not rate limited: a credit manager's occasional change, not an order flow.
    responses=error_responses(
        400,
        401,
        403,
        404,
        413,
        422,
        503,
        descriptions={404: "Unknown customer", 422: "Bad limit or reason"},
    ),
)
async def put_credit_limit(
    body: CreditLimitRequest,
    engine: EngineDep,
    runtime: RuntimeDep,
    key: AdminKey,
    customer_id: str = Path(min_length=1, max_length=64, examples=["C00001"]),
) -> CreditLimitsOut:
    """Orders are checked against this limit from now on, on every worker; the change is
    logged with the API key's name as author and the reason (history newest first)."""
    history = await run_in_threadpool(
        set_credit_limit,
        engine,
        customer_id=customer_id,
        limit=body.limit,
        reason=body.reason,
        author=key.name,
    )
    await runtime.catch_up()
    return CreditLimitsOut(
        customer_id=customer_id,
        approved_limit=body.limit,
        history=[
            CreditLimitChangeOut(
                at=h.at,
                previous_limit=h.previous_limit,
                new_limit=h.new_limit,
                author=h.author,
                reason=h.reason,
            )
            for h in history
        ],
    )
