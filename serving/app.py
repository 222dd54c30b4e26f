"""The FastAPI application: `create_app(settings)` and the lifespan that loads the model.

    uvicorn --factory serving.app:create_app      (or `duecast serve`)

The lifespan opens the store (schema at head), loads the champion bundle from
`settings.models_dir / "champion"` (or, with `DUECAST_SERVE_MODEL_ALIAS`, the registered
version holding that alias) and builds every customer's serving state once.
Without a bundle the app still starts: /healthz answers, /readyz and the scoring
endpoints say 503 until `POST /v1/admin/reload` finds a promoted champion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from features.store import ensure_schema, get_engine
from kernel.config import Settings, get_settings
from kernel.logs import configure_logging
from serving.deps import KeyCache
from serving.errors import error_responses, install_error_handlers
from serving.limits import BodyLimitMiddleware, RateLimiter
from serving.middleware import RequestContextMiddleware, RequestIdFilter
from serving.reminders import run_reminder_schedule
from serving.routes import actions, customers, events, health, invoices, model, orders
from serving.routes import worklist as worklist_routes
from serving.routes.orders_fast import OrderDecisionFastPath
from serving.runtime import Runtime
from serving.web.docs import install_docs
from serving.web.install import install_web

__all__ = ["DuecastAPI", "create_app"]

logger = logging.getLogger(__name__)

# How long the thread holding the GIL keeps it while another thread waits (CPython's
# default is 5 ms). An approval that must wait for the store is confirmed in the thread
# pool (one whose lock is free, on the event loop); with the default, that
# thread waited for the GIL while the event loop decided other orders, and two workers
# answered 573 orders/s instead of 1,185-1,212 with this value (bench/api.py capacity).
GIL_SWITCH_SECONDS = 0.0002

_DESCRIPTION = """
Late-payment risk of invoices turned into decisions: order approval, credit limits,
the collections worklist. Send an API key in the `X-API-Key` header
(`duecast apikey create --role scorer|collector|admin --name ...`).
Roles: **scorer** (orders, scores, customers, model), **collector** (+ worklist,
actions), **admin** (+ events, reload).
"""


# Errors every route of these routers can answer (the other routers document theirs on
# each route): the body limit is checked on every request, keys on the model routes.
_ROUTER_ERRORS = {
    health.__name__: error_responses(413),
    model.__name__: error_responses(401, 403, 413, 503),
}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = get_engine(settings.database_url)
    await run_in_threadpool(ensure_schema, engine)
    runtime = Runtime(settings, engine)
    await run_in_threadpool(runtime.load)
    app.state.engine = engine
    app.state.runtime = runtime
    # The daily reminder e-mails, when DUECAST_REMINDERS_SEND_AT is set (returns at once
    # otherwise); every worker may run it, the claims in the store send each mail once.
    reminders = asyncio.create_task(run_reminder_schedule(settings))
    yield
    reminders.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reminders
    runtime.close()
    engine.dispose()


class DuecastAPI(FastAPI):
    """FastAPI, with `POST /v1/orders/decision` handed straight to its own middleware.

    Everything else goes through FastAPI as usual. The order decision, the hot path,
    skips the layers FastAPI and Starlette put around the app's middleware (native
    OpenTelemetry, the framework's body-limit and exception wrappers, the server-error
    guard): 4 % of a worker's samples under bench/api.py's load. It keeps the app's own
    request id, metrics, 500 guard and body limit, and its fast path
    (`serving.routes.orders_fast`); FastAPI's native OpenTelemetry does not see it.
    """

    _orders: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI call (the order decision first, see the class)."""
        if scope["type"] == "http" and scope["path"] == orders.PATH and scope["method"] == "POST":
            if self.root_path:
                scope["root_path"] = self.root_path  # as FastAPI sets them
            scope["app"] = self  # requests reach the app's state through it
            await (self._orders or self._order_stack())(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _order_stack(self) -> ASGIApp:
        """The app's request-context and body-limit middleware around its order fast path
        (the instance in the built stack: what it passes on reaches the router)."""
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        layer: Any = self.middleware_stack
        while layer is not None and not isinstance(layer, OrderDecisionFastPath):
            layer = getattr(layer, "app", None)  # each middleware holds the next as `app`
        if layer is None:  # an app built without the fast path: FastAPI answers orders
            self._orders = super().__call__
            return self._orders
        settings: Settings = self.state.settings
        limited = BodyLimitMiddleware(layer, max_bytes=settings.api_max_body_bytes)
        self._orders = RequestContextMiddleware(limited)
        return self._orders


def create_app(settings: Settings | None = None) -> FastAPI:
    """The duecast REST API (settings default to the `DUECAST_*` environment)."""
    settings = settings or get_settings()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    configure_logging()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            # Every line carries the request id, so one request's lines can be joined.
            handler.addFilter(RequestIdFilter())
            if getattr(handler, "_duecast", False):
                handler.setFormatter(logging.Formatter("[%(request_id)s] %(name)s: %(message)s"))
    app = DuecastAPI(
        title="duecast",
        description=_DESCRIPTION,
        version="0.1.0",
        lifespan=_lifespan,
        # Served by `install_docs` with the packaged assets: FastAPI's use a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.api_key_cache = KeyCache(
        size=settings.api_key_cache_size, seconds=settings.api_key_cache_seconds
    )
    app.state.rate_limiter = RateLimiter(
        rate=settings.api_rate_limit_per_second, burst=settings.api_rate_limit_burst
    )
    install_error_handlers(app)
    # The last added runs first: the request id and the 500 guard wrap the body limit,
    # which answers before routing and authentication; the order decision's fast path
    # runs after both, in place of routing.
    app.add_middleware(OrderDecisionFastPath)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    for module in (
        health,
        orders,
        customers,
        invoices,
        worklist_routes,
        actions,
        events,
        model,
    ):
        app.include_router(module.router, responses=_ROUTER_ERRORS.get(module.__name__))
    install_web(app)
    install_docs(app)  # after install_web: it reuses the /static mount
    return app
