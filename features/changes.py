"""The change log: rows telling running serving workers which customers to reload.

A writer (an API write, an import, a model reload) appends its rows in the transaction
of the write itself, so a worker that sees a row also sees what it announces. Every
worker reads the log's position on each request and reloads the customers named since
(`serving.state.ServingState.sync`); a row without a customer concerns every customer,
and workers rebuild their whole state in the background, the old one serving meanwhile.

Kinds written: "invoices", "payments", "action" (API writes), "import" (one row per
touched customer, or one row for every customer after a large import), "model".

Rows become visible in sequence order: a worker keeps the highest number it has
applied, so a row committed after a higher one would be skipped for good. SQLite's
single writer holds its lock until commit; on PostgreSQL a writer takes a
transaction-level advisory lock before its sequence number, held until it commits.
Write the change-log rows last in a transaction, so the lock is held only briefly.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import sqlalchemy as sa

from features.store import change_log

__all__ = ["log_change", "log_changes"]


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
    return int(result.inserted_primary_key[0])


def log_changes(conn: sa.Connection, customer_ids: Iterable[str], *, kind: str) -> int:
    """Append one change-log row per customer (one statement); returns how many."""
    at = _now()
    rows = [{"customer_id": cid, "kind": kind, "at": at} for cid in customer_ids]
    if rows:
        _in_commit_order(conn)
        conn.execute(change_log.insert(), rows)
    return len(rows)
