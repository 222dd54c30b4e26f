"""ASGI middleware: request id, Prometheus metrics, security headers, clean 500s.

Every response carries `X-Request-ID` and `X-Content-Type-Options: nosniff`; HTML pages
also get a frame, content and referrer policy. An unhandled exception answers one JSON
500 (`ErrorOut`, no request input) with `Connection: close`, and is logged with its
request id and traceback: without the header the server would close a kept-alive
connection the client still believes open, and reset its next, unrelated request.

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

__all__ = [
    "PAGE_CSP",
    "REQUEST_ID",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "render_metrics",
]

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

# The web pages (serving/web/) load their scripts (HTMX, the chart library) and styles
# from the app itself and run no inline script; inline style attributes stay allowed
# because HTMX and the charts set them. Forms post to the app only.
PAGE_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "img-src 'self' data:; object-src 'none'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_HTML_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
# /docs and /redoc (serving/web/docs.py) load their packaged scripts and run inline
# scripts: the page policy would blank them, so they get the other headers only.
_DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
_INTERNAL_ERROR = "internal error: the server failed on this request; it is logged under "


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
        incoming = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
                break
        request_id = incoming.decode("latin-1")
        # Client-chosen ids are kept only when short and printable (they end up in logs).
        request_id = request_id if 0 < len(request_id) <= 64 and request_id.isprintable() else ""
        request_id = request_id or uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        status = 500
        started = False
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", request_id.encode()))
                headers.append(_NOSNIFF)
                for name, value in headers:
                    if name == b"content-type" and value.startswith(b"text/html"):
                        headers.extend(_HTML_HEADERS)
                        if scope["path"] not in _DOCS_PATHS:
                            headers.append((b"content-security-policy", PAGE_CSP.encode()))
                        break
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if started:
                raise  # the status line is out: only the server can end the connection
            logger.exception("Unhandled error on %s %s", scope["method"], scope["path"])
            await _send_500(send_with_id, request_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - start
            _REQUESTS.labels(scope["method"], path, str(status)).inc()
            _LATENCY.labels(scope["method"], path).observe(elapsed)
            logger.debug("%s %s -> %s in %.1f ms", scope["method"], path, status, elapsed * 1e3)
            REQUEST_ID.reset(token)


async def _send_500(send: Send, request_id: str) -> None:
    # Imported here: serving.errors reads REQUEST_ID from this module.
    from serving.errors import error_body, send_closing_json

    body = error_body(_INTERNAL_ERROR + f"request id {request_id}", "InternalServerError")
    await send_closing_json(send, 500, body)
