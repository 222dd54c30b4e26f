"""ASGI middleware: a request id on every request and Prometheus request metrics.

Pure ASGI (not `BaseHTTPMiddleware`) because it sits on the order-decision hot path.
With `PROMETHEUS_MULTIPROC_DIR` set (as `duecast serve --workers N` does for N > 1), every
worker writes its metrics to files there and `render_metrics` sums all workers.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
import uuid

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID", "RequestContextMiddleware", "RequestIdFilter", "render_metrics"]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_REQUESTS = Counter(
    "duecast_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
_LATENCY = Histogram(
    "duecast_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
logger = logging.getLogger(__name__)


def render_metrics() -> bytes:
    """The Prometheus text of every worker (multiprocess mode) or else of this process."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    # A fresh registry per scrape, as the prometheus_client docs advise: one holding
    # the live metrics as well would export them twice.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record, so log lines of one request can be joined."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class RequestContextMiddleware:
    """Sets the request id (from `X-Request-ID` or new), echoes it, records metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # Client-chosen ids are kept only when short and printable (they end up in logs).
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else ""
        request_id = request_id or uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - start
            _REQUESTS.labels(scope["method"], path, str(status)).inc()
            _LATENCY.labels(scope["method"], path).observe(elapsed)
            logger.debug("%s %s -> %s in %.1f ms", scope["method"], path, status, elapsed * 1e3)
            REQUEST_ID.reset(token)
