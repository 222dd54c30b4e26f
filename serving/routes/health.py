"""Liveness, readiness and Prometheus metrics (no API key: probes and scrapers call them)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from serving.deps import RuntimeDep
from serving.middleware import render_metrics
from serving.schemas import HealthOut, ReadyOut

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthOut, summary="The process is alive")
async def healthz() -> HealthOut:
    """200 while the process runs, whatever the model or database."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    summary="A model is loaded and the database answers",
    responses={503: {"model": ReadyOut, "description": "Not ready: see `detail`."}},
)
async def readyz(runtime: RuntimeDep) -> ReadyOut | JSONResponse:
    """200 with a model loaded and the database reachable, else 503 with the reason.

    "degraded" is still 200: the worker serves every customer but the few whose stored
    rows cannot be read (they answer 503). Taking it out of the load balancer would
    turn one bad row back into an outage for every customer.
    """
    db_problem = await run_in_threadpool(runtime.database_ok)
    state = runtime.state
    problems = [p for p in (db_problem, None if state else runtime.error or "no model") if p]
    not_served = len(state.failed) if state else 0
    if not problems and not_served:
        # Counted, not named: /readyz needs no key, customer ids are the log's business.
        problems_text: str | None = (
            f"{not_served} customer(s) not served: a stored row cannot be read or their "
            "state cannot be built (the log names each customer and the reason)"
        )
    else:
        problems_text = "; ".join(problems) or None
    body = ReadyOut(
        status="not ready" if problems else "degraded" if not_served else "ready",
        model_version=state.bundle.model_version if state else None,
        database="unreachable" if db_problem else "ok",
        detail=problems_text,
        customers_not_served=not_served,
        last_reload_error=runtime.last_reload_error,
    )
    if problems:
        return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
    return body


@router.get("/metrics", summary="Prometheus metrics of all workers", response_class=Response)
async def metrics() -> Response:
    """Request counts and latencies in the Prometheus text format, summed over workers."""
    # Multiprocess mode reads one file per worker and metric: off the event loop.
    content = await run_in_threadpool(render_metrics)
    return Response(content=content, media_type=CONTENT_TYPE_LATEST)
