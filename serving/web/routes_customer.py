"""GET /customers/{id}: the customer page; POST /customers/{id}/actions: log from it.

A posted form is checked server-side (`serving.web.action_forms`); with errors it comes
back with the user's values and each message next to its field. Without JavaScript the
whole page comes back (422); an HTMX post gets the live part of the page (200: HTMX does
not swap an error status by default, and the errors are the answer to show). Once
stored, the worklist is current at once (`runtime.catch_up`), and the answer is the
fresh live part (HTMX) or a 303 back to the page (no JavaScript).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kernel.config import Settings
from kernel.errors import ConflictError, CustomerUnavailableError, UnknownEntityError
from serving.deps import EngineDep, RuntimeDep, SettingsDep, StateDep
from serving.schemas import ActionRequest
from serving.state import ServingState
from serving.usecases.present import action_out
from serving.web.action_forms import (
    FORM_ERROR,
    FORM_KINDS,
    LOGGED,
    ActionForm,
    blank_forms,
    dispute_choices,
    parse_action_form,
    target_key,
)
from serving.web.customer_view import ACTIONS_SHOWN, customer_page, read_history
from serving.web.deps import WebForm, WebUser
from serving.web.sessions import WebSession
from serving.web.templating import render
from serving.writes import record_action

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _missing(request: Request, user: WebSession, exc: Exception) -> HTMLResponse:
    """An unknown customer (404) or one whose stored rows cannot be served (503)."""
    unavailable = isinstance(exc, CustomerUnavailableError)
    return render(
        request,
        "error.html",
        {
            "title": "Customer unavailable" if unavailable else "Unknown customer",
            "message": str(exc),
        },
        session=user,
        status_code=503 if unavailable else 404,
    )


async def _page(
    request: Request,
    *,
    state: ServingState,
    engine: sa.Engine,
    user: WebSession,
    customer_id: str,
    forms: dict[str, ActionForm] | None = None,
    flash: str = "",
    fragment: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    """The customer page (or its live part, `fragment`), forms blank unless given."""
    try:
        entry = state.entry(customer_id)
        history = await run_in_threadpool(read_history, engine, customer_id, as_of=state.as_of)
        page = customer_page(state, customer_id, history)
    except (UnknownEntityError, CustomerUnavailableError) as exc:
        return _missing(request, user, exc)
    return render(
        request,
        "customer_live.html" if fragment else "customer.html",
        {
            "page": page,
            "forms": {**blank_forms(), **(forms or {})},
            "disputes": dispute_choices(entry),
            "flash": flash,
            "as_of": state.as_of,
            "actions_shown": ACTIONS_SHOWN,
            "form_error": FORM_ERROR,
        },
        session=user,
        status_code=status_code,
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer(
    request: Request, customer_id: str, user: WebUser, state: StateDep, engine: EngineDep
) -> HTMLResponse:
    """Profile, open invoices, history charts, action log and the forms to log actions."""
    logged = request.query_params.get("logged", "")
    return await _page(
        request,
        state=state,
        engine=engine,
        user=user,
        customer_id=customer_id,
        flash=LOGGED.get(logged, ""),
    )


def _render_action(values: Mapping[str, Any]) -> dict[str, Any]:
    return action_out(values).model_dump(mode="json")


def _store(
    engine: sa.Engine,
    settings: Settings,
    requests: Sequence[ActionRequest],
    *,
    key: str,
    scope: str,
) -> None:
    """Store a form's actions, each once per idempotency key (a replay stores nothing)."""
    for body in requests:
        values = body.model_dump()
        if settings.serve_as_of is not None:
            # A pinned serving date is "today" (as POST /v1/actions logs it).
            now = dt.datetime.now(dt.UTC)
            values["at"] = dt.datetime.combine(settings.serve_as_of, now.time(), tzinfo=dt.UTC)
        record_action(
            engine,
            values,
            # As the user sent it (no `at`), so the same form again is a replay.
            request_body=body.model_dump(mode="json"),
            idempotency_key=target_key(key, body.invoice_id),
            scope=scope,
            render=_render_action,
        )


@router.post("/customers/{customer_id}/actions", response_class=HTMLResponse)
async def log_action(
    request: Request,
    customer_id: str,
    form: WebForm,
    user: WebUser,
    state: StateDep,
    engine: EngineDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
) -> Response:
    """Check a posted form and store its action(s); the page shows them at once."""
    kind = form.get("kind")
    if kind not in FORM_KINDS:
        message = f"Unknown form {kind!r}: reload the page and use one of its forms."
        page = {"title": "Form refused", "message": message}
        return render(request, "error.html", page, session=user, status_code=400)
    assert isinstance(kind, str)
    htmx = bool(request.headers.get("HX-Request"))
    try:
        entry = state.entry(customer_id)
    except (UnknownEntityError, CustomerUnavailableError) as exc:
        return _missing(request, user, exc)
    checked, requests = parse_action_form(
        form, kind=kind, entry=entry, today=state.as_of, author=user.name
    )
    if requests:
        try:
            await run_in_threadpool(
                _store, engine, settings, requests, key=checked.key, scope=f"web:{user.key_id}"
            )
        except (UnknownEntityError, ConflictError) as exc:
            checked.errors[FORM_ERROR] = f"Not stored: {exc}."
    if checked.errors:
        return await _page(
            request,
            state=state,
            engine=engine,
            user=user,
            customer_id=customer_id,
            forms={kind: checked},
            fragment=htmx,
            status_code=200 if htmx else 422,
        )
    await runtime.catch_up()
    if not htmx:
        target = f"/customers/{quote(customer_id, safe='')}?logged={kind}"
        return RedirectResponse(target, status_code=303)
    return await _page(
        request,
        state=await runtime.current(),
        engine=engine,
        user=user,
        customer_id=customer_id,
        flash=LOGGED[kind],
        fragment=True,
    )
