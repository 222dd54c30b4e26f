"""POST /v1/actions: log a call, promise to pay, dispute or note (Idempotency-Key aware)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Header, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from serving.deps import EngineDep, LimitedCollectorKey, RuntimeDep, SettingsDep
from serving.errors import WRITE_STATUSES, error_responses
from serving.loader import serving_date
from serving.schemas import ActionOut, ActionRequest
from serving.usecases.present import action_out
from serving.writes import record_action

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["collections"])


def _check_promise_date(body: ActionRequest, today: dt.date) -> None:
    """A promise dated before today would be broken the moment it is logged: 422."""
    if body.kind == "promise" and body.promised_date is not None and body.promised_date < today:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "promised_date"),
                    "msg": f"a promise to pay cannot be dated before today ({today.isoformat()})",
                    "type": "value_error",
                }
            ]
        )


def _render(values: Mapping[str, Any]) -> dict[str, Any]:
    return action_out(values).model_dump(mode="json")


@router.post(
    "/actions",
    response_model=ActionOut,
    status_code=201,
    summary="Log a collections action",
    responses={
        200: {
            "model": ActionOut,
            "description": "Replay: this Idempotency-Key already stored this action",
        },
        **error_responses(
            *WRITE_STATUSES,
            descriptions={
                404: "Unknown customer or invoice",
                409: "Idempotency-Key reused with another body, or the invoice belongs to "
                "another customer",
            },
        ),
    },
)
async def post_action(
    body: ActionRequest,
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    key: LimitedCollectorKey,
    idempotency_key: str | None = Header(default=None, min_length=1, max_length=255),
) -> ActionOut:
    """Store the action; the worklist shows it (a promise or a dispute pauses dunning)."""
    _check_promise_date(body, serving_date(settings.serve_as_of))
    values = body.model_dump()
    if values["at"] is None and settings.serve_as_of is not None:
        # A pinned serving date (demo, historical data) is "today": log the action on it.
        now = dt.datetime.now(dt.UTC)
        values["at"] = dt.datetime.combine(settings.serve_as_of, now.time(), tzinfo=dt.UTC)
    stored, created = await run_in_threadpool(
        record_action,
        engine,
        values,
        request_body=body.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        scope=f"actions:{key.key_id}",
        render=_render,
    )
    await runtime.catch_up()
    if not created:
        response.status_code = 200
    return ActionOut.model_validate(stored)
