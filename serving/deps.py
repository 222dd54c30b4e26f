"""FastAPI dependencies as typed aliases: settings, store engine, API-key roles.

Tests swap them with `app.dependency_overrides`.
"""

from __future__ import annotations

import time
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from duecast.config import Settings
from serving.auth import ApiKey, find_api_key, hash_key, role_allows
from serving.runtime import Runtime
from serving.state import ServingState

__all__ = [
    "AdminKey",
    "CollectorKey",
    "EngineDep",
    "RuntimeDep",
    "ScorerKey",
    "ScorerState",
    "SettingsDep",
    "StateDep",
    "get_engine_dep",
    "get_settings_dep",
    "lookup_key",
    "require_role",
]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


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


async def get_state_dep(request: Request) -> ServingState:
    """The serving state, with every change logged by any worker applied (503 without model)."""
    return await request.app.state.runtime.current()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[sa.Engine, Depends(get_engine_dep)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime_dep)]
StateDep = Annotated[ServingState, Depends(get_state_dep)]


_KEY_CACHE_SECONDS = 60.0


def lookup_key(request: Request, key: str) -> ApiKey | None:
    """The active API key matching `key` (cached), or None."""
    return _lookup(request, key)


def _lookup(request: Request, key: str) -> ApiKey | None:
    # Cached by hash for a minute: keeps the store off the hot path, and a revoked key
    # stops working within that minute.
    cache: dict[str, tuple[ApiKey | None, float]] = request.app.state.api_key_cache
    digest = hash_key(key)
    hit = cache.get(digest)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    with request.app.state.engine.connect() as conn:
        found = find_api_key(conn, key)
    cache[digest] = (found, now + _KEY_CACHE_SECONDS)
    return found


def _authorize(request: Request, key: str | None, role: str) -> ApiKey:
    if not key:
        raise HTTPException(401, "missing API key: send it in the X-API-Key header")
    found = _lookup(request, key)
    if found is None:
        raise HTTPException(401, "unknown or revoked API key")
    if not role_allows(found.role, role):
        raise HTTPException(403, f"this endpoint needs the {role!r} role; key has {found.role!r}")
    return found


def require_role(role: str):  # type: ignore[no-untyped-def]
    """A dependency admitting keys whose role includes `role`: 401 without a key, 403 below it."""

    async def check(
        request: Request, key: Annotated[str | None, Security(_api_key_header)] = None
    ) -> ApiKey:
        return _authorize(request, key, role)

    return check


async def _scorer_state(
    request: Request, key: Annotated[str | None, Security(_api_key_header)] = None
) -> ServingState:
    # The key check and the state in one dependency: each dependency FastAPI resolves
    # costs tens of microseconds, a real share of the order decision's budget.
    _authorize(request, key, "scorer")
    return await request.app.state.runtime.current()


ScorerKey = Annotated[ApiKey, Depends(require_role("scorer"))]
CollectorKey = Annotated[ApiKey, Depends(require_role("collector"))]
AdminKey = Annotated[ApiKey, Depends(require_role("admin"))]
ScorerState = Annotated[ServingState, Depends(_scorer_state)]
"""The serving state, for a request whose key has the scorer role (401/403 first, then 503)."""
