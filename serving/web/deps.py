"""What every web route needs: the signed-in session, and forms checked against CSRF.

Pages answer with a redirect to the sign-in instead of a 401 (HTMX requests get an
`HX-Redirect` header, so the whole page goes, not a fragment); a form without the
session's CSRF token is refused with 403 before anything is read from it.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from serving.auth import role_allows
from serving.web.sessions import WebSession, find_session

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CsrfRefused",
    "SignInRequired",
    "WebForm",
    "WebUser",
    "checked_form",
    "web_session",
]

COOKIE = "duecast_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Largest form a page posts (a note of 4,000 characters and a few fields).
MAX_FORM_FIELDS = 200


class SignInRequired(Exception):
    """No live session: the page sends the browser to the sign-in, then back to `next`."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfRefused(Exception):
    """A form posted without this session's CSRF token (or from another site)."""


def _next_url(request: Request) -> str:
    # Only a path of this site: an absolute URL here would be an open redirect.
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    # Encoded whole: it travels as the value of the sign-in's `next` parameter, so its own
    # `?` and `&` must not split the sign-in URL.
    return quote(target, safe="/")


async def web_session(request: Request) -> WebSession:
    """The signed-in collector or admin of this request, else SignInRequired."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        found = await run_in_threadpool(find_session, request.app.state.engine, session_id)
        if found is not None and role_allows(found.role, "collector"):
            request.state.web_session = found
            return found
    raise SignInRequired(_next_url(request))


WebUser = Annotated[WebSession, Depends(web_session)]


async def checked_form(request: Request, session: WebUser) -> FormData:
    """The posted form, once its CSRF token (field or header) matches the session's."""
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(token, str) or not hmac.compare_digest(token, session.csrf_token):
        raise CsrfRefused()
    return form


WebForm = Annotated[FormData, Depends(checked_form)]
