"""API keys: creation, hashed storage, lookup, expiry, revocation, and the role ladder.

Keys are 256-bit random tokens, so a plain SHA-256 of the key is a safe verifier (a
slow password hash earns nothing against a brute force of 2**256 and would cost
milliseconds on every request). The plaintext key is shown once, at creation.

A key stops working when revoked (`revoke_api_key`, which also ends the key's web
sessions and tells every serving worker through the change log, kind "apikey") or at
its `expires_at` (`find_api_key` refuses it; caches keep no entry past that instant).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from features.changes import log_change
from features.store import api_keys, ensure_schema, web_sessions
from kernel.errors import ConfigurationError, UnknownEntityError

__all__ = [
    "APIKEY_CHANGE",
    "ROLES",
    "ApiKey",
    "ApiKeyInfo",
    "create_api_key",
    "find_api_key",
    "hash_key",
    "list_api_keys",
    "revoke_api_key",
    "role_allows",
]

# Each role includes the rights of the roles before it.
ROLES: tuple[str, ...] = ("scorer", "collector", "admin")
# The change-log kind a revocation writes: workers drop their cached key lookups.
APIKEY_CHANGE = "apikey"
_PREFIX = "dck_"


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret (`expires_at` None: it never expires)."""

    key_id: str
    name: str
    role: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ApiKeyInfo:
    """A stored key as `duecast apikey list` shows it."""

    key_id: str
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        """The status at `now`: "revoked", "expired" or "active"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def hash_key(key: str) -> str:
    """The SHA-256 hex digest stored in place of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def role_allows(have: str, need: str) -> bool:
    """True when role `have` includes the rights of role `need`."""
    return ROLES.index(have) >= ROLES.index(need)


def create_api_key(
    engine: sa.Engine,
    *,
    role: str,
    name: str,
    expires_days: int | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key for `role` (expiring `expires_days` after `now`, if given); returns
    it with its plaintext (never stored)."""
    if role not in ROLES:
        raise ConfigurationError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    if not name.strip():
        raise ConfigurationError("an API key needs a name saying who or what uses it")
    if expires_days is not None and expires_days <= 0:
        raise ConfigurationError(f"--expires must be a positive number of days, got {expires_days}")
    now = now or datetime.now(UTC)
    expires_at = None if expires_days is None else now + timedelta(days=expires_days)
    ensure_schema(engine)
    key_id = secrets.token_hex(8)
    plaintext = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    with engine.begin() as conn:
        conn.execute(
            api_keys.insert().values(
                key_id=key_id,
                name=name.strip(),
                role=role,
                key_hash=hash_key(plaintext),
                created_at=now,
                expires_at=expires_at,
            )
        )
    key = ApiKey(key_id=key_id, name=name.strip(), role=role, expires_at=expires_at)
    return key, plaintext


def find_api_key(conn: sa.Connection, key: str, *, now: datetime | None = None) -> ApiKey | None:
    """The active key matching `key` (not revoked, not expired at `now`), or None."""
    row = conn.execute(
        sa.select(api_keys.c.key_id, api_keys.c.name, api_keys.c.role, api_keys.c.expires_at).where(
            api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    expires_at = _utc(row.expires_at)
    if expires_at is not None and expires_at <= (now or datetime.now(UTC)):
        return None
    return ApiKey(key_id=row.key_id, name=row.name, role=row.role, expires_at=expires_at)


def list_api_keys(engine: sa.Engine) -> list[ApiKeyInfo]:
    """Every stored key (revoked and expired too), oldest first."""
    ensure_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                api_keys.c.key_id,
                api_keys.c.name,
                api_keys.c.role,
                api_keys.c.created_at,
                api_keys.c.expires_at,
                api_keys.c.revoked_at,
            ).order_by(api_keys.c.created_at, api_keys.c.key_id)
        ).all()
    return [
        ApiKeyInfo(
            key_id=r.key_id,
            name=r.name,
            role=r.role,
            created_at=_utc(r.created_at) or r.created_at,
            expires_at=_utc(r.expires_at),
            revoked_at=_utc(r.revoked_at),
        )
        for r in rows
    ]


def revoke_api_key(
    engine: sa.Engine, key_id: str, *, now: datetime | None = None
) -> tuple[ApiKeyInfo, bool]:
    """Revoke a key, end its open web sessions and tell every worker, in one transaction.

    Returns:
        The key as stored, and False when it had already been revoked (nothing changed).

    Raises:
        UnknownEntityError: no key has this id.
    """
    now = now or datetime.now(UTC)
    ensure_schema(engine)
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(api_keys).where(api_keys.c.key_id == key_id).with_for_update()
        ).first()
        if row is None:
            raise UnknownEntityError(
                f"no API key has the id {key_id!r}: `duecast apikey list` shows the ids"
            )
        revoked_before = _utc(row.revoked_at)
        if revoked_before is None:
            conn.execute(
                api_keys.update().where(api_keys.c.key_id == key_id).values(revoked_at=now)
            )
            conn.execute(
                web_sessions.update()
                .where(web_sessions.c.key_id == key_id, web_sessions.c.ended_at.is_(None))
                .values(ended_at=now)
            )
            # Last in the transaction (see features.changes): workers drop cached lookups.
            log_change(conn, customer_id=None, kind=APIKEY_CHANGE)
    info = ApiKeyInfo(
        key_id=row.key_id,
        name=row.name,
        role=row.role,
        created_at=_utc(row.created_at) or row.created_at,
        expires_at=_utc(row.expires_at),
        revoked_at=revoked_before or now,
    )
    return info, revoked_before is None
