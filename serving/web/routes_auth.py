"""Sign-in, sign-out and `/`: an API key exchanged for a server-side session.

The key is checked once, straight against the store (no cache: a key revoked a moment
ago is refused), and never reaches the browser's storage. The sign-in form is protected
against login CSRF with a double-submit token: a random value in a short-lived cookie
that the form must repeat.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from serving.auth import ApiKey, find_api_key, role_allows
from serving.web.deps import COOKIE, CSRF_FIELD, SignInRequired, WebForm, web_session
from serving.web.sessions import end_session, open_session
from serving.web.templating import render

__all__ = ["router", "safe_next"]

router = APIRouter(include_in_schema=False)
_SIGNIN_COOKIE = "duecast_signin"


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path of this site only (never `//host` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/worklist"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/")
async def home(request: Request) -> Response:
    """The worklist when signed in, else the sign-in."""
    try:
        await web_session(request)
    except SignInRequired:
        return RedirectResponse("/signin", status_code=303)
    return RedirectResponse("/worklist", status_code=303)


def _signin_page(
    request: Request, *, next_url: str, message: str = "", status: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        {
            "signin_token": token,
            "next_url": safe_next(next_url),
            "message": message,
            "hours": f"{request.app.state.settings.web_session_hours:g}",
        },
        status_code=status,
    )
    response.set_cookie(
        _SIGNIN_COOKIE, token, max_age=3600, httponly=True, samesite="lax", secure=_secure(request)
    )
    return response


@router.get("/signin")
async def signin_form(
    request: Request, next_url: str | None = Query(default=None, alias="next", max_length=2000)
) -> Response:
    """The sign-in form."""
    return _signin_page(request, next_url=next_url or "/worklist")


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the key, open a session, and go where the user was going."""
    form = await request.form(max_fields=10, max_files=0)
    next_url = safe_next(str(form.get("next") or ""))
    token = str(form.get(CSRF_FIELD) or "")
    expected = request.cookies.get(_SIGNIN_COOKIE, "")
    if not expected or not hmac.compare_digest(token, expected):
        message = "The sign-in form expired or came from another site: sign in again."
        return _signin_page(request, next_url=next_url, message=message, status=403)
    key_text = str(form.get("key") or "").strip()
    engine = request.app.state.engine

    def lookup() -> ApiKey | None:
        with engine.connect() as conn:
            return find_api_key(conn, key_text)

    found = await run_in_threadpool(lookup) if key_text else None
    if found is None or not role_allows(found.role, "collector"):
        message = "That key is unknown, revoked, expired, or lacks the collector role."
        return _signin_page(request, next_url=next_url, message=message, status=401)
    settings = request.app.state.settings
    session_id, _ = await run_in_threadpool(
        open_session, engine, found, hours=settings.web_session_hours
    )
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(settings.web_session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(_SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request, form: WebForm) -> Response:
    """End the session (CSRF-checked) and forget the cookie."""
    del form  # checked for its CSRF token; nothing else is read
    session_id = request.cookies.get(COOKIE, "")
    await run_in_threadpool(end_session, request.app.state.engine, session_id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE)
    return response
