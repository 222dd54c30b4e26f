"""`install_web(app)`: the web pages' routes, static files and error pages on the API app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from serving.web import routes_auth, routes_customer, routes_worklist
from serving.web.deps import CsrfRefused, SignInRequired
from serving.web.templating import STATIC_DIR, render

__all__ = ["install_web"]


async def _to_signin(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = f"/signin?next={exc.next_url}"
    if request.headers.get("HX-Request"):
        # A fragment request: HTMX loads the whole sign-in page instead of a fragment.
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    del exc
    return render(
        request,
        "error.html",
        {
            "title": "Form refused",
            "message": "This form expired or came from another page: reload the page and "
            "send it again.",
        },
        status_code=403,
    )


def install_web(app: FastAPI) -> None:
    """Mount the static files and add the sign-in, worklist and customer pages."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(SignInRequired, _to_signin)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    for module in (routes_auth, routes_worklist, routes_customer):
        app.include_router(module.router)
