"""FastAPI dependencies as typed aliases: settings, store engine, API-key roles, rate limit.

Tests swap them with `app.dependency_overrides`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from kernel.config import Settings
from kernel.errors import StoreError
from serving.auth import ApiKey, find_api_key, hash_key, role_allows
from serving.limits import RateLimiter
from serving.runtime import Runtime
from serving.state import ServingState

__all__ = [
    "AdminKey",
    "CollectorKey",
    "EngineDep",
    "KeyCache",
    "LimitedAdminKey",
    "LimitedCollectorKey",
    "LimitedScorerKey",
    "RuntimeDep",
    "ScorerKey",
    "ScorerState",
    "SettingsDep",
    "StateDep",
    "get_engine_dep",
    "get_settings_dep",
    "lookup_key",
    "require_role",
    "scorer_state",
]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
logger = logging.getLogger(__name__)


# Dependencies are `async def` where they do not block: FastAPI runs plain `def`
# dependencies in the thread pool, a hop the order-decision hot path cannot afford.


async def get_settings_dep(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


async def get_engine_dep(request: Request) -> sa.Engine:
    """The store engine opened by the lifespan."""
    return request.app.state.engine


async def get_runtime_dep(request: Request) -> Runtime:
    """The worker's runtime (state, refresh, reload)."""
    return request.app.state.runtime


def _change_position(request: Request) -> int | None:
    """The change-log position this request's key lookup read, if it did (see `_lookup`)."""
    return getattr(request.state, "change_position", None)


async def get_state_dep(request: Request) -> ServingState:
    """The serving state, with every change logged by any worker applied (503 without model)."""
    return await request.app.state.runtime.current(_change_position(request))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[sa.Engine, Depends(get_engine_dep)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime_dep)]
StateDep = Annotated[ServingState, Depends(get_state_dep)]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KeyCache:
    """Key lookups by hash, least recently used first out: at most `size` entries, each
    trusted `seconds` (never past the key's `expires_at`) then read from the store again.

    A revocation through any worker empties it on the next request (`clear`, called when
    `Runtime.keys_revoked` sees the change-log row).
    """

    def __init__(
        self,
        *,
        size: int,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.size = size
        self.seconds = seconds
        self.clock = clock
        # `clock` is monotonic; a key's expiry is a wall-clock instant, read with this.
        self.wall_clock = wall_clock
        self._entries: OrderedDict[str, tuple[ApiKey | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str) -> tuple[bool, ApiKey | None]:
        """(True, key or None) for a fresh entry, else (False, None)."""
        with self._lock:
            hit = self._entries.get(digest)
            if hit is None:
                return False, None
            if hit[1] <= self.clock():
                del self._entries[digest]
                return False, None
            self._entries.move_to_end(digest)
            return True, hit[0]

    def put(self, digest: str, found: ApiKey | None) -> None:
        """Remember a lookup (unknown keys too: a flood of bad keys stays off the store)."""
        trusted = self.seconds
        if found is not None and found.expires_at is not None:
            trusted = min(trusted, (found.expires_at - self.wall_clock()).total_seconds())
        if trusted <= 0:
            return
        with self._lock:
            self._entries[digest] = (found, self.clock() + trusted)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every lookup (a key was revoked: read them all from the store again)."""
        with self._lock:
            self._entries.clear()


def lookup_key(request: Request, key: str) -> ApiKey | None:
    """The active API key matching `key` (cached), or None."""
    return _lookup(request, key)


def _lookup(request: Request, key: str) -> ApiKey | None:
    # Cached by hash: keeps the store off the hot path; bounded and expiring (KeyCache).
    cache: KeyCache = request.app.state.api_key_cache
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        # Read once per request: the state dependencies reuse it (`_change_position`).
        latest = request.state.change_position = runtime.position()
        if latest is not None and runtime.keys_revoked(latest):
            cache.clear()  # a key was revoked through some worker: ask the store again
    digest = hash_key(key)
    fresh, found = cache.get(digest)
    if fresh:
        return found
    try:
        with request.app.state.engine.connect() as conn:
            found = find_api_key(conn, key)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        logger.warning("API key lookup failed: %s", type(exc).__name__)
        raise StoreError(
            "the store holding the API keys cannot be reached: try again later"
        ) from exc
    cache.put(digest, found)
    return found


def _authorize(request: Request, key: str | None, role: str) -> ApiKey:
    if not key:
        raise HTTPException(401, "missing API key: send it in the X-API-Key header")
    found = _lookup(request, key)
    if found is None:
        raise HTTPException(401, "unknown, revoked or expired API key")
    if not role_allows(found.role, role):
        raise HTTPException(403, f"this endpoint needs the {role!r} role; key has {found.role!r}")
    return found


def _rate_limit(request: Request, key: ApiKey) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(key.key_id)


def require_role(
    role: str, *, rate_limited: bool = False
) -> Callable[[Request, str | None], Awaitable[ApiKey]]:
    """A dependency admitting keys whose role includes `role`: 401 without a key, 403 below
    it, and with `rate_limited` 429 when the key exceeds its rate."""

    async def check(
        request: Request, key: Annotated[str | None, Security(_api_key_header)] = None
    ) -> ApiKey:
        found = _authorize(request, key, role)
        if rate_limited:
            _rate_limit(request, found)
        return found

    return check


async def scorer_state(request: Request, key: str | None) -> ServingState:
    """The serving state for a request whose key has the scorer role, after its rate
    limit: HTTPException 401/403/429, ModelNotFoundError (503) otherwise."""
    _rate_limit(request, _authorize(request, key, "scorer"))
    return await request.app.state.runtime.current(_change_position(request))


async def _scorer_state(
    request: Request, key: Annotated[str | None, Security(_api_key_header)] = None
) -> ServingState:
    # The key check, the rate limit and the state in one dependency: each dependency
    # FastAPI resolves costs tens of microseconds, a real share of the order decision's
    # budget.
    return await scorer_state(request, key)


ScorerKey = Annotated[ApiKey, Depends(require_role("scorer"))]
CollectorKey = Annotated[ApiKey, Depends(require_role("collector"))]
AdminKey = Annotated[ApiKey, Depends(require_role("admin"))]
LimitedScorerKey = Annotated[ApiKey, Depends(require_role("scorer", rate_limited=True))]
LimitedCollectorKey = Annotated[ApiKey, Depends(require_role("collector", rate_limited=True))]
LimitedAdminKey = Annotated[ApiKey, Depends(require_role("admin", rate_limited=True))]
ScorerState = Annotated[ServingState, Depends(_scorer_state)]
"""The serving state, for a rate-limited request whose key has the scorer role (401/403,
then 429, then 503)."""
