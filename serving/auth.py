"""API keys: creation, hashed storage, lookup, and the role ladder.

Keys are 256-bit random tokens, so a plain SHA-256 of the key is a safe verifier (a
slow password hash earns nothing against a brute force of 2**256 and would cost
milliseconds on every request). The plaintext key is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from features.store import api_keys, ensure_schema
from kernel.errors import ConfigurationError

__all__ = ["ROLES", "ApiKey", "create_api_key", "find_api_key", "hash_key", "role_allows"]

# Each role includes the rights of the roles before it.
ROLES: tuple[str, ...] = ("scorer", "collector", "admin")
_PREFIX = "dck_"


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    role: str


def hash_key(key: str) -> str:
    """The SHA-256 hex digest stored in place of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def role_allows(have: str, need: str) -> bool:
    """True when role `have` includes the rights of role `need`."""
    return ROLES.index(have) >= ROLES.index(need)


def create_api_key(engine: sa.Engine, *, role: str, name: str) -> tuple[ApiKey, str]:
    """Store a new key for `role`; returns it with its plaintext (never stored)."""
    if role not in ROLES:
        raise ConfigurationError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    if not name.strip():
        raise ConfigurationError("an API key needs a name saying who or what uses it")
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
                created_at=datetime.now(UTC),
            )
        )
    return ApiKey(key_id=key_id, name=name.strip(), role=role), plaintext


def find_api_key(conn: sa.Connection, key: str) -> ApiKey | None:
    """The active key matching `key`, or None."""
    row = conn.execute(
        sa.select(api_keys.c.key_id, api_keys.c.name, api_keys.c.role).where(
            api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else ApiKey(key_id=row.key_id, name=row.name, role=row.role)
