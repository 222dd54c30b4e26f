"""Server-side sessions of the web pages, stored in `web_sessions`.

The cookie holds a random 256-bit session id; the store keeps its SHA-256, like API keys
(`serving.auth`), so a copy of the table opens no session. A session lives until it
expires, is ended by sign-out, or its API key is revoked or expires: every lookup joins
the key, so that takes effect on the next request of every worker.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from features.store import api_keys, web_sessions
from serving.auth import ApiKey, hash_key

__all__ = ["WebSession", "end_session", "find_session", "open_session"]


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: who it is (the key's name and role) and its forms' CSRF token."""

    session_hash: str
    key_id: str
    name: str
    role: str
    csrf_token: str
    expires_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_session(engine: sa.Engine, key: ApiKey, *, hours: float) -> tuple[str, WebSession]:
    """Store a new session for `key`; returns the id for the cookie (never stored) and it."""
    session_id = secrets.token_urlsafe(32)
    now = _now()
    session = WebSession(
        session_hash=hash_key(session_id),
        key_id=key.key_id,
        name=key.name,
        role=key.role,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=now + dt.timedelta(hours=hours),
    )
    with engine.begin() as conn:
        # Sessions long over are of no use: each sign-in clears them, so the table stays
        # the size of the sessions alive (and a day of ended ones, for a look at who).
        conn.execute(
            web_sessions.delete().where(web_sessions.c.expires_at < now - dt.timedelta(days=1))
        )
        conn.execute(
            web_sessions.insert().values(
                session_hash=session.session_hash,
                key_id=key.key_id,
                csrf_token=session.csrf_token,
                created_at=now,
                expires_at=session.expires_at,
            )
        )
    return session_id, session


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def find_session(engine: sa.Engine, session_id: str) -> WebSession | None:
    """The live session with this id, or None (unknown, ended, expired, or its key gone)."""
    s, k = web_sessions.c, api_keys.c
    query = (
        sa.select(
            s.session_hash,
            s.key_id,
            s.csrf_token,
            s.expires_at,
            k.name,
            k.role,
            k.expires_at.label("key_expires_at"),
        )
        .join(api_keys, k.key_id == s.key_id)
        .where(s.session_hash == hash_key(session_id), s.ended_at.is_(None), k.revoked_at.is_(None))
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    # Expiry compared in Python: SQLite compares zoned timestamps as text.
    now = _now()
    if _aware(row.expires_at) <= now:
        return None
    if row.key_expires_at is not None and _aware(row.key_expires_at) <= now:
        return None
    return WebSession(
        session_hash=row.session_hash,
        key_id=row.key_id,
        name=row.name,
        role=row.role,
        csrf_token=row.csrf_token,
        expires_at=_aware(row.expires_at),
    )


def end_session(engine: sa.Engine, session_id: str) -> None:
    """End the session (sign-out); ending an unknown or ended session does nothing."""
    with engine.begin() as conn:
        conn.execute(
            web_sessions.update()
            .where(
                web_sessions.c.session_hash == hash_key(session_id),
                web_sessions.c.ended_at.is_(None),
            )
            .values(ended_at=_now())
        )
