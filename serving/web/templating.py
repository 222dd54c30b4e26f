"""The Jinja2 environment of the web pages and `render`, which every page goes through.

Autoescaping is on for every template: names, notes and reasons come from imports and
collectors, and must never run as markup.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from features.wording import money, probability
from serving.web.deps import CSRF_FIELD, CSRF_HEADER
from serving.web.sessions import WebSession

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "render", "templates"]

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=TEMPLATE_DIR)
templates.env.autoescape = True
templates.env.filters["money"] = money
templates.env.filters["probability"] = probability


def _day(value: dt.date | dt.datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d}"


def _words(value: str | None) -> str:
    """'dispute_resolution' -> 'dispute resolution'."""
    return "" if value is None else value.replace("_", " ")


templates.env.filters["day"] = _day
templates.env.filters["words"] = _words


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    session: WebSession | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The template `name` with `context`, the signed-in user and their CSRF token."""
    page = {
        "session": session,
        "csrf_field": CSRF_FIELD,
        "csrf_header": CSRF_HEADER,
        "csrf_token": session.csrf_token if session else "",
        "base_currency": request.app.state.settings.base_currency,
        **context,
    }
    response = templates.TemplateResponse(request, name, page, status_code=status_code)
    # Pages show a customer's ledger: never kept by a shared proxy or the back button of
    # a signed-out browser.
    response.headers["Cache-Control"] = "no-store"
    return response
