"""GET /worklist: the collections worklist page (and its HTMX fragment).

Filters, sort and page live in the URL, so a view can be bookmarked, shared and reloaded.
A bad value in the URL is dropped (the page shows everything) rather than answered with
an error page: a person typed or edited it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kernel.policy import GRADES
from serving.decisions.target import chance_words
from serving.deps import StateDep
from serving.reasons import risk_target
from serving.web.deps import WebUser
from serving.web.templating import render
from serving.web.worklist_view import SORTS, WorklistQuery, worklist_view

__all__ = ["TEAM", "router", "worklist_query"]

router = APIRouter(include_in_schema=False)
# The collector filter's value for the accounts assigned to nobody (the team's queue).
TEAM = "-"
_PARAMS = ("collector", "grade", "step", "q", "mine", "waiting", "sort", "dir", "page")


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def worklist_query(params: dict[str, str], *, user: str, size: int) -> WorklistQuery:
    """The page's query from URL parameters; unknown values fall back to no filter."""
    collector = params.get("collector") or None
    grade = params.get("grade") if params.get("grade") in GRADES else None
    sort = params.get("sort", "rank")
    return WorklistQuery(
        collector="" if collector == TEAM else collector,
        grade=grade,
        step=(params.get("step") or None),
        q=(params.get("q") or "")[:100] or None,
        mine_of=user if params.get("mine") == "1" else None,
        waiting=params.get("waiting") == "1",
        sort=sort if sort in SORTS else "rank",
        descending=params.get("dir") == "desc",
        page=_int(params.get("page"), 1),
        size=size,
    )


@router.get("/worklist", response_class=HTMLResponse)
async def worklist(request: Request, user: WebUser, state: StateDep) -> HTMLResponse:
    """The day's worklist: filters, totals, aging, and a page of ranked customers."""
    params = {k: v for k, v in request.query_params.items() if k in _PARAMS}
    size = request.app.state.settings.web_page_size
    query = worklist_query(params, user=user.name, size=size)
    view = worklist_view(state, query)

    def link(**changes: object) -> str:
        merged = {**params, **{k: str(v) for k, v in changes.items() if v is not None}}
        kept = {k: v for k, v in merged.items() if v not in ("", None)}
        return "/worklist?" + urlencode(kept)

    def sort_link(column: str) -> str:
        natural_desc = SORTS[column][1]
        if query.sort == column:
            direction = "asc" if query.descending else "desc"
        else:
            direction = "desc" if natural_desc else "asc"
        return link(sort=column, dir=direction, page=1)

    fragment = request.headers.get("HX-Target") == "worklist-results"
    return render(
        request,
        "worklist_results.html" if fragment else "worklist.html",
        {
            "view": view,
            "query": query,
            "params": params,
            "link": link,
            "sort_link": sort_link,
            "team": TEAM,
            "grades": GRADES,
            "as_of": state.as_of,
            "model_version": state.bundle.model_version,
            "chance": chance_words(risk_target(state.bundle)),
        },
        session=user,
    )
