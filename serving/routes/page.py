"""GET /worklist: the collections worklist as a server-rendered HTML page (no JavaScript).

Browsers cannot send the X-API-Key header, so the page asks for the key once and keeps
it in an HttpOnly, SameSite=Strict cookie; the key never appears in a URL or a log.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.auth import role_allows
from serving.decisions.target import chance_words
from serving.deps import StateDep, lookup_key
from serving.errors import error_responses
from serving.reasons import risk_target
from serving.usecases.worklist import worklist_page

__all__ = ["router"]

router = APIRouter(tags=["collections"], include_in_schema=True)
_COOKIE = "duecast_key"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{padding:.4rem .6rem;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f4f4f4}.num{text-align:right}
.escalate{color:#b00020;font-weight:600}.call{color:#c25e00;font-weight:600}
.reminder{color:#0b5394}.dispute_resolution{color:#6a1b9a}small{color:#666}
.follow_up_later,.wait_for_promise,.await_credit_note{color:#666}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _split(quotas: dict[str, int]) -> str:
    """The day's items per step, in words: "call 20, escalate 12, ..."."""
    return ", ".join(f"{step.replace('_', ' ')} {n}" for step, n in quotas.items())


def _login(message: str = "") -> HTMLResponse:
    note = f"<p style='color:#b00020'>{escape(message)}</p>" if message else ""
    return _page(
        "duecast worklist: sign in",
        "<h1>Collections worklist</h1>"
        f"{note}<form method=post action='/worklist/login'>"
        "<label>API key (collector or admin) <input type=password name=key size=60 "
        "autocomplete=off required></label> <button>Open the worklist</button></form>",
    )


@router.post("/worklist/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Check the key and keep it in a cookie for the page."""
    # Parsed by hand: one urlencoded field does not earn the python-multipart dependency.
    form = parse_qs((await request.body())[:1024].decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    found = lookup_key(request, key) if key else None
    if found is None or not role_allows(found.role, "collector"):
        return _login("That key is unknown or lacks the collector role.")
    response = RedirectResponse("/worklist", status_code=303)
    response.set_cookie(_COOKIE, key, httponly=True, samesite="strict", max_age=12 * 3600)
    return response


@router.get(
    "/worklist",
    response_class=HTMLResponse,
    summary="The worklist as a web page",
    # No 401/403: without a collector key the page answers 200 with its sign-in form.
    responses=error_responses(413, 422, 503, html_route=True),
)
async def worklist_html(
    request: Request,
    state: StateDep,
    limit: int | None = Query(default=None, ge=1, le=1000),
    grade: str | None = Query(default=None, pattern="^[A-E]$"),
) -> HTMLResponse:
    """Today's worklist for collectors: who to contact, how, and why."""
    key = request.headers.get("x-api-key") or request.cookies.get(_COOKIE)
    found = lookup_key(request, key) if key else None
    if found is None or not role_allows(found.role, "collector"):
        return _login("" if key is None else "That key is unknown or lacks the collector role.")
    page = worklist_page(state, limit=limit, grade=grade)
    rows = []
    for item in page.data:
        last = item.last_action
        last_text = (
            f"{escape(last.kind)} {last.at:%Y-%m-%d}"
            + (f" by {escape(last.author)}" if last.author else "")
            if last
            else "-"
        )
        reasons = "<br>".join(escape(r) for r in item.reasons[:3])
        rows.append(
            f"<tr><td class=num>{item.rank}</td><td>{escape(item.name)}<br><small>"
            f"{escape(item.customer_id)} · grade {item.risk_grade} · "
            f"{escape(item.collector or 'team')}</small></td>"
            f"<td class='{escape(item.next_action)}'>{escape(item.next_action.replace('_', ' '))}"
            f"{' (automated)' if item.automated else ''}"
            f"<br><small>{escape(item.next_action_invoice or '')}</small></td>"
            f"<td class=num>{item.open_amount:,.0f}</td>"
            f"<td class=num>{item.overdue_amount:,.0f}</td>"
            f"<td class=num>{item.expected_loss:,.0f}</td>"
            f"<td>{reasons}</td><td>{last_text}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>#</th><th>customer</th><th>next action</th><th>open</th>"
        "<th>overdue</th><th>expected loss</th><th>why</th><th>last action</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    head = (
        f"<h1>Collections worklist · {page.as_of}</h1><p>{page.count} of {page.total} "
        f"customers needing work today, {page.today} on today's list (capacity "
        f"{page.capacity}: {escape(_split(page.step_capacity))}"
        f"{'; reminders sent automatically' if page.reminders_automated else ''}), model "
        f"{escape(page.model_version)}; grades and expected loss rest on its "
        f"{chance_words(risk_target(state.bundle))}.</p>"
    )
    return _page(f"duecast worklist {page.as_of}", head + table)
