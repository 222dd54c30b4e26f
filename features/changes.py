"""The change log: rows telling running serving workers which customers to reload.

A writer (an API write, an import, a model reload) appends its rows in the transaction
of the write itself, so a worker that sees a row also sees what it announces. Every
worker reads the log's position on each request and reloads the customers named since
(`serving.state.ServingState.sync`); a row without a customer concerns every customer,
and workers rebuild their whole state in the background, the old one serving meanwhile.

Kinds written: "invoices", "payments", "action" (API writes), "import" (one row per
touched customer, or one row for every customer after a large import), "model", and
"apikey" (a revoked key, no customer: workers drop their cached key lookups and keep
their state; `serving.auth.revoke_api_key`).

Written with `log_change` / `log_changes`; read with `latest_seq` and `changes_since`
(a worker's sync) and `ChangeWatcher` (the position, on every request).

Rows become visible in sequence order: a worker keeps the highest number it has
applied, so a row committed after a higher one would be skipped for good. SQLite's
single writer holds its lock until commit; on PostgreSQL a writer takes a
transaction-level advisory lock before its sequence number, held until it commits.
Write the change-log rows last in a transaction, so the lock is held only briefly.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from features.store import change_log

__all__ = ["Change", "ChangeWatcher", "changes_since", "latest_seq", "log_change", "log_changes"]

logger = logging.getLogger(__name__)


# The advisory-lock key of the change log on PostgreSQL (any fixed 64-bit number: "duecast").
_CHANGE_LOG_LOCK = int.from_bytes(b"duecast", "big")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _in_commit_order(conn: sa.Connection) -> None:
    """Hold the change-log lock until this transaction ends (PostgreSQL; see the module)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CHANGE_LOG_LOCK)))


def log_change(conn: sa.Connection, *, customer_id: str | None, kind: str) -> int:
    """Append a change-log row (customer None: every customer); returns its sequence number."""
    _in_commit_order(conn)
    result = conn.execute(change_log.insert().values(customer_id=customer_id, kind=kind, at=_now()))
    key = result.inserted_primary_key
    assert key is not None, "a single-row INSERT always reports its primary key"
    return int(key[0])


def log_changes(conn: sa.Connection, customer_ids: Iterable[str], *, kind: str) -> int:
    """Append one change-log row per customer (one statement); returns how many."""
    at = _now()
    rows = [{"customer_id": cid, "kind": kind, "at": at} for cid in customer_ids]
    if rows:
        _in_commit_order(conn)
        conn.execute(change_log.insert(), rows)
    return len(rows)


# ---------------------------------------------------------------- reading the log


@dataclass(frozen=True)
class Change:
    """One change-log row: customer None means every customer (a new model)."""

    seq: int
    customer_id: str | None
    kind: str


def latest_seq(conn: sa.Connection) -> int:
    """The highest change-log sequence number (0 when empty)."""
    return int(conn.execute(sa.select(sa.func.max(change_log.c.seq))).scalar() or 0)


class ChangeWatcher:
    """The change-log position, read on one kept DBAPI connection (microseconds, not the
    ~0.5 ms of a pooled SQLAlchemy round trip): it runs on every request.

    Use it from one thread only (the event loop's); SQLite connections are bound to
    the thread that opened them.
    """

    _SQL = "SELECT max(seq) FROM change_log"

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._conn: Any = None

    def latest(self) -> int:
        """The highest change-log sequence number (0 when empty)."""
        try:
            if self._conn is None:
                self._conn = self._engine.raw_connection()
                driver = self._conn.driver_connection
                if self._engine.dialect.name == "postgresql":
                    driver.autocommit = True  # no transaction left open between reads
            cursor = self._conn.cursor()
            try:
                cursor.execute(self._SQL)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except Exception:
            self.close()  # reconnect on the next read
            raise
        return int(row[0] or 0)

    def close(self) -> None:
        """Give the connection back (reopened on the next read)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
            except Exception:  # already broken: nothing to give back
                logger.debug("closing the change watcher's connection failed", exc_info=True)


def changes_since(conn: sa.Connection, seq: int) -> list[Change]:
    """Change-log rows after `seq`, oldest first."""
    rows = conn.execute(
        sa.select(change_log.c.seq, change_log.c.customer_id, change_log.c.kind)
        .where(change_log.c.seq > seq)
        .order_by(change_log.c.seq)
    )
    return [Change(int(r.seq), r.customer_id, r.kind) for r in rows]
