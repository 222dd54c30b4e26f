"""Request limits: the body size limit (pure ASGI) and a per-key token-bucket rate limit.

The body limit runs before routing and authentication, so an oversized body is refused
with 413 before it is read, with or without a key: from `Content-Length` when given,
else by counting the chunks as the app reads them. The rate limit runs after the key
check (it is per key) on the decision and write endpoints; both are O(1) per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_body, send_closing_json

__all__ = ["BodyLimitMiddleware", "RateLimiter"]


def _too_large(limit: int) -> str:
    return (
        f"request body larger than {limit} bytes: send less per request "
        "(limit DUECAST_API_MAX_BODY_BYTES)"
    )


class BodyLimitMiddleware:
    """Answers 413 (and closes the connection) for a body over `max_bytes`, unread."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
                break
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                size = self.max_bytes + 1  # the server checks framing; refuse what it let by
            if size > self.max_bytes:
                await _send_413(send, self.max_bytes)
                return
            # The server never delivers more than Content-Length: nothing to count.
            await self.app(scope, receive, send)
            return
        await self.app(scope, _counting(receive, self.max_bytes), send)


def _counting(receive: Receive, limit: int) -> Receive:
    # A chunked body: count as the app reads; the HTTPException reaches the route's
    # exception handlers (FastAPI re-raises HTTPExceptions met while reading the body).
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # Connection: close, since the rest of the body is still on the wire.
                raise HTTPException(413, _too_large(limit), headers={"Connection": "close"})
        return message

    return counted


async def _send_413(send: Send, limit: int) -> None:
    # The unread body is still on the wire: this connection cannot carry another request.
    await send_closing_json(send, 413, error_body(_too_large(limit), "RequestTooLarge"))


class RateLimiter:
    """One token bucket per key: `rate` requests/s sustained, `burst` at once (0 = off)."""

    # More keys than this (they are stored keys, so rare) and the least recently seen
    # bucket is dropped: memory stays bounded.
    MAX_KEYS = 10_000

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        """Take one token for `key_id`.

        Raises:
            HTTPException: 429 with `Retry-After` (whole seconds) when the bucket is empty.
        """
        if self.rate <= 0:
            return
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(key_id, None)
            if bucket is None:
                bucket = [self.burst, now]
                if len(self._buckets) >= self.MAX_KEYS:
                    del self._buckets[next(iter(self._buckets))]
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            allowed = tokens >= 1.0
            bucket[0] = tokens - 1.0 if allowed else tokens
            self._buckets[key_id] = bucket  # re-inserted last: dict order is recency
        if not allowed:
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            raise HTTPException(
                429,
                f"rate limit of {self.rate:g} requests/s (burst {self.burst:g}) for this key "
                f"reached: retry after {wait} s",
                headers={"Retry-After": str(wait)},
            )
