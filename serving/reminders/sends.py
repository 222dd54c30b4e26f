"""The once-only ledger of reminder e-mails (`reminder_sends`): claims and outcomes.

Statuses: "sending" (claimed by a run, mail under way), "sent", "retrying" (with
`next_attempt_at`), "failed" (a bounce, the last attempt, or a claim its run never
settled). A claim commits before the mail goes out, so a concurrent run sees it; see
the package docstring for why this keeps each (invoice, step) to one e-mail.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from features.store import reminder_sends
from kernel.errors import StoreError
from serving.writes import record_action

__all__ = ["STALE_CLAIM", "Claim", "claim_rows", "expire_stale_claims", "release", "settle"]

logger = logging.getLogger(__name__)

# A claim older than this was left by a run that died mid-send (a mail takes seconds,
# its retries within a run minutes).
STALE_CLAIM = dt.timedelta(hours=1)
SYSTEM_AUTHOR = "system"

_c = reminder_sends.c


@dataclass(frozen=True)
class Claim:
    """An (invoice, step) row this run holds, and the attempts made before it."""

    invoice_id: str
    attempts: int


def _insert_claim(conn: sa.Connection, values: dict[str, object]) -> bool:
    insert: postgresql.Insert | sqlite.Insert
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(reminder_sends)
    elif conn.dialect.name == "sqlite":
        insert = sqlite.insert(reminder_sends)
    else:
        raise StoreError(f"unsupported database {conn.dialect.name!r}: use SQLite or PostgreSQL")
    # ON CONFLICT DO NOTHING waits for a concurrent claim of the key, then skips.
    statement = (
        insert.values(**values)
        .on_conflict_do_nothing(index_elements=[_c.invoice_id, _c.step])
        .returning(_c.invoice_id)
    )
    return conn.execute(statement).first() is not None


def _take_retry(conn: sa.Connection, invoice_id: str, step: str, now: dt.datetime) -> int | None:
    """Claim a due "retrying" row; its attempts so far, or None when not ours to take."""
    taken = conn.execute(
        reminder_sends.update()
        .where(
            _c.invoice_id == invoice_id,
            _c.step == step,
            _c.status == "retrying",
            sa.or_(_c.next_attempt_at.is_(None), _c.next_attempt_at <= now),
        )
        .values(status="sending", last_attempt_at=now)
    )
    # The status condition is checked again after a concurrent update commits
    # (PostgreSQL) or under SQLite's single writer: one run wins.
    if taken.rowcount != 1:
        return None
    return int(
        conn.execute(
            sa.select(_c.attempts).where(_c.invoice_id == invoice_id, _c.step == step)
        ).scalar_one()
    )


def claim_rows(
    engine: sa.Engine,
    *,
    customer_id: str,
    invoice_ids: Sequence[str],
    step: str,
    recipient: str,
    now: dt.datetime,
) -> list[Claim]:
    """Claim the rows of one e-mail; only the invoices claimed may be listed in it."""
    claims: list[Claim] = []
    with engine.begin() as conn:
        for invoice_id in invoice_ids:
            values = {
                "invoice_id": invoice_id,
                "step": step,
                "customer_id": customer_id,
                "recipient": recipient,
                "status": "sending",
                "attempts": 0,
                "first_attempt_at": now,
                "last_attempt_at": now,
            }
            if _insert_claim(conn, values):
                claims.append(Claim(invoice_id, 0))
                continue
            before = _take_retry(conn, invoice_id, step, now)
            if before is not None:
                claims.append(Claim(invoice_id, before))
    return claims


def release(engine: sa.Engine, claims: Sequence[Claim], *, step: str) -> None:
    """Give back claims whose mail was never sent: new rows go, retries are due again."""
    with engine.begin() as conn:
        for claim in claims:
            key = (_c.invoice_id == claim.invoice_id, _c.step == step, _c.status == "sending")
            if claim.attempts == 0:
                conn.execute(reminder_sends.delete().where(*key))
            else:
                conn.execute(reminder_sends.update().where(*key).values(status="retrying"))


def expire_stale_claims(engine: sa.Engine, *, now: dt.datetime) -> int:
    """Mark claims older than `STALE_CLAIM` failed (their run died); returns how many."""
    with engine.begin() as conn:
        result = conn.execute(
            reminder_sends.update()
            .where(_c.status == "sending", _c.last_attempt_at < now - STALE_CLAIM)
            .values(
                status="failed",
                next_attempt_at=None,
                last_error="the run sending it stopped before it finished: the mail may or "
                "may not have gone out, so it is not sent again",
            )
        )
    if result.rowcount:
        logger.warning("%d reminder claims of an interrupted run marked failed", result.rowcount)
    return int(result.rowcount)


def _log_action(
    engine: sa.Engine, *, customer_id: str, invoice_id: str, step: str, text: str, at: dt.datetime
) -> str:
    action = {
        "customer_id": customer_id,
        "invoice_id": invoice_id,
        "kind": "reminder",
        "author": SYSTEM_AUTHOR,
        "text": text,
        "at": at,
    }
    # Keyed by (invoice, step): a settle repeated after a crash cannot log it twice.
    body, _ = record_action(
        engine,
        action,
        request_body={**action, "at": at.isoformat()},
        idempotency_key=f"{invoice_id}:{step}",
        scope="reminders",
        render=lambda stored: {"action_id": stored["action_id"]},
    )
    return str(body["action_id"])


def settle(
    engine: sa.Engine,
    claims: Sequence[Claim],
    *,
    customer_id: str,
    step: str,
    status: str,
    attempts_made: int,
    now: dt.datetime,
    subject: str,
    error: str | None = None,
    max_attempts: int,
    next_attempt_at: dt.datetime | None = None,
) -> dict[str, str]:
    """Record the outcome of one e-mail on its claimed rows; invoice id -> final status.

    `status` "sent" logs a `reminder` action (author "system", the subject as its text)
    per invoice through `serving.writes.record_action`, so the worklist and the running
    workers see it. "retrying" becomes "failed" for a row that has used `max_attempts`.
    """
    out: dict[str, str] = {}
    for claim in claims:
        attempts = claim.attempts + attempts_made
        final = status
        if status == "retrying" and attempts >= max_attempts:
            final = "failed"
        values: dict[str, object] = {
            "status": final,
            "attempts": attempts,
            "last_attempt_at": now,
            "last_error": error,
            "next_attempt_at": next_attempt_at if final == "retrying" else None,
        }
        if final == "sent":
            values["sent_at"] = now
            values["action_id"] = _log_action(
                engine,
                customer_id=customer_id,
                invoice_id=claim.invoice_id,
                step=step,
                text=subject,
                at=now,
            )
        with engine.begin() as conn:
            conn.execute(
                reminder_sends.update()
                .where(_c.invoice_id == claim.invoice_id, _c.step == step)
                .values(**values)
            )
        out[claim.invoice_id] = final
    return out
