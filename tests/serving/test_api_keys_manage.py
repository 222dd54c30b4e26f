"""Key expiry and revocation: refused at once by every worker sharing the store."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.changes import changes_since
from features.store import api_keys, ensure_schema, get_engine, web_sessions
from kernel.config import Settings
from kernel.errors import UnknownEntityError
from serving.app import create_app
from serving.auth import APIKEY_CHANGE, ApiKey, create_api_key, find_api_key, revoke_api_key
from serving.deps import KeyCache
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


@contextmanager
def _workers(settings: Settings, n: int = 2) -> Iterator[list[TestClient]]:
    """`n` apps (as `n` uvicorn workers would be) on one store, each with its key cache."""
    with ExitStack() as stack:
        yield [stack.enter_context(TestClient(create_app(settings))) for _ in range(n)]


@pytest.fixture
def long_cache(api_template: ApiTemplate, tmp_path: Path) -> Settings:
    """Settings whose key lookups are cached for an hour: only a revocation can end them."""
    return settings_for(api_template, tmp_path).model_copy(update={"api_key_cache_seconds": 3600.0})


def _key_id(engine: sa.Engine, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(api_keys.c.key_id).where(api_keys.c.name == name)
        ).scalar_one()


def test_a_revoked_key_gets_401_at_once_on_every_worker(
    api_template: ApiTemplate, long_cache: Settings
) -> None:
    headers = {"X-API-Key": api_template.keys["scorer"]}
    other = {"X-API-Key": api_template.keys["admin"]}
    engine = get_engine(long_cache.database_url)
    with _workers(long_cache) as workers:
        assert [w.get("/v1/model", headers=headers).status_code for w in workers] == [200, 200]
        states = [w.app.state.runtime.state for w in workers]  # type: ignore[attr-defined]
        revoke_api_key(engine, _key_id(engine, "test scorer"))
        assert [w.get("/v1/model", headers=headers).status_code for w in workers] == [401, 401]
        assert workers[0].get("/v1/model", headers=headers).json()["error"]
        # Other keys keep working, and the whole state was not rebuilt for a key.
        assert [w.get("/v1/model", headers=other).status_code for w in workers] == [200, 200]
        for worker, state in zip(workers, states, strict=True):
            runtime = worker.app.state.runtime  # type: ignore[attr-defined]
            assert runtime.state is state and runtime._rebuild is None


def test_an_apikey_change_does_not_ask_for_a_rebuild(
    api_template: ApiTemplate, long_cache: Settings
) -> None:
    engine = get_engine(long_cache.database_url)
    with _workers(long_cache, 1) as (worker,):
        state = worker.app.state.runtime.state  # type: ignore[attr-defined]
        revoke_api_key(engine, _key_id(engine, "test collector"))
        assert state.sync(engine) is False
        with engine.connect() as conn:
            assert state.seq == max(c.seq for c in changes_since(conn, 0))


def test_an_expired_key_gets_401(api_template: ApiTemplate, long_cache: Settings) -> None:
    engine = get_engine(long_cache.database_url)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    _, expired = create_api_key(engine, role="admin", name="old", expires_days=1, now=past)
    _, current = create_api_key(engine, role="admin", name="new", expires_days=1)
    with _workers(long_cache, 1) as (worker,):
        assert worker.get("/v1/model", headers={"X-API-Key": expired}).status_code == 401
        assert worker.get("/v1/model", headers={"X-API-Key": current}).status_code == 200


def test_find_api_key_refuses_a_key_from_its_expiry_on(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    key, plaintext = create_api_key(engine, role="scorer", name="x", expires_days=2, now=NOW)
    assert key.expires_at == NOW + dt.timedelta(days=2)
    with engine.connect() as conn:
        assert find_api_key(conn, plaintext, now=NOW + dt.timedelta(days=1)) == key
        assert find_api_key(conn, plaintext, now=NOW + dt.timedelta(days=2)) is None


def test_the_key_cache_keeps_no_entry_past_the_key_expiry() -> None:
    mono, wall = [0.0], [NOW]
    cache = KeyCache(size=10, seconds=3600.0, clock=lambda: mono[0], wall_clock=lambda: wall[0])
    soon = ApiKey("1", "n", "scorer", expires_at=NOW + dt.timedelta(seconds=5))
    never = ApiKey("2", "n", "scorer")
    cache.put("soon", soon)
    cache.put("never", never)
    cache.put("gone", ApiKey("3", "n", "scorer", expires_at=NOW))
    assert cache.get("soon") == (True, soon) and cache.get("gone") == (False, None)
    mono[0] = 5.0
    assert cache.get("soon") == (False, None) and cache.get("never") == (True, never)
    cache.clear()
    assert len(cache) == 0


def test_revoking_ends_the_key_sessions_and_logs_one_change(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    key, _ = create_api_key(engine, role="collector", name="desk")
    with engine.begin() as conn:
        for ended in (None, NOW - dt.timedelta(hours=1)):
            conn.execute(
                web_sessions.insert().values(
                    session_hash=secrets.token_hex(32),
                    key_id=key.key_id,
                    csrf_token="t",
                    created_at=NOW - dt.timedelta(hours=2),
                    expires_at=NOW + dt.timedelta(hours=8),
                    ended_at=ended,
                )
            )
    info, changed = revoke_api_key(engine, key.key_id, now=NOW)
    assert changed and info.status(NOW) == "revoked"
    again, changed_again = revoke_api_key(engine, key.key_id)
    assert not changed_again and again.revoked_at == NOW
    with engine.connect() as conn:
        ended_at = sorted(
            r.replace(tzinfo=dt.UTC) for r in conn.scalars(sa.select(web_sessions.c.ended_at))
        )
        kinds = [c.kind for c in changes_since(conn, 0) if c.customer_id is None]
    assert ended_at == [NOW - dt.timedelta(hours=1), NOW]  # the ended one keeps its time
    assert kinds == [APIKEY_CHANGE]
    with pytest.raises(UnknownEntityError, match="apikey list"):
        revoke_api_key(engine, "nope")


@pytest.mark.postgres
def test_revocation_reaches_every_worker_on_postgres(
    api_template: ApiTemplate, postgres_url: str, tmp_path: Path
) -> None:
    engine = get_engine(postgres_url)
    ensure_schema(engine)
    key, plaintext = create_api_key(engine, role="scorer", name="pg")
    settings = Settings(
        home=tmp_path / "home",
        database_url=postgres_url,
        models_dir=api_template.models_dir,
        serve_as_of=AS_OF,
        api_key_cache_seconds=3600.0,
    )
    headers = {"X-API-Key": plaintext}
    with _workers(settings) as workers:
        assert [w.get("/v1/model", headers=headers).status_code for w in workers] == [200, 200]
        revoke_api_key(engine, key.key_id)
        assert [w.get("/v1/model", headers=headers).status_code for w in workers] == [401, 401]
