"""Writes made through the API: invoice and payment events, collector actions, and
approved credit limits (each change logged with its author and reason).

Every write runs in one transaction with its change-log row (`features.changes`, which
`duecast import` writes too), so a serving worker that sees the row also sees the write.
Events are idempotent by their id: the same event again changes nothing; an event
changing a stored row updates it. Actions are idempotent by the client's
`Idempotency-Key` header. Both hold when duplicates arrive at the same moment: new rows
go in with `INSERT ... ON CONFLICT DO NOTHING`, and a write that finds its row stored by
a concurrent one compares with it instead of failing on the primary key.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from features.changes import log_change
from features.currency_restate import restate_invoice_rows
from features.store import TABLE_OBJECTS, credit_limit_changes, idempotency_keys
from kernel.errors import ConflictError, StoreError, UnknownEntityError
from serving.approvals import lock_customer
from serving.event_currency import invoice_in_base, payment_in_base

__all__ = [
    "LimitChange",
    "WriteResult",
    "record_action",
    "record_invoice",
    "record_payment",
    "set_credit_limit",
]

logger = logging.getLogger(__name__)

WriteStatus = Literal["created", "updated", "unchanged"]

_customers = TABLE_OBJECTS["customers"]
_invoices = TABLE_OBJECTS["invoices"]
_payments = TABLE_OBJECTS["payments"]
_actions = TABLE_OBJECTS["actions"]


@dataclass(frozen=True)
class WriteResult:
    """What a write did: status "created", "updated" or "unchanged"."""

    id: str
    customer_id: str
    status: WriteStatus


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _require_customer(conn: sa.Connection, customer_id: str) -> None:
    found = conn.execute(
        sa.select(_customers.c.customer_id).where(_customers.c.customer_id == customer_id)
    ).first()
    if found is None:
        raise UnknownEntityError(
            f"unknown customer {customer_id!r}: import the customer first, or check the id"
        )


def _comparable(value: object) -> object:
    if isinstance(value, datetime.datetime):
        return value.date() if value.time() == datetime.time() else value
    if isinstance(value, float):
        return round(value, 2)
    return value


def _insert_new(conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """Insert a row unless its primary key is taken; False when a concurrent write has it.

    `ON CONFLICT DO NOTHING` waits for a concurrent insert of the same key to commit or
    roll back, then skips or inserts: never a unique violation, and the transaction
    stays usable (a failed statement would abort it on PostgreSQL).
    """
    # Each dialect has its own `Insert` class with `on_conflict_do_nothing`.
    insert: postgresql.Insert | sqlite.Insert
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(table)
    elif conn.dialect.name == "sqlite":
        insert = sqlite.insert(table)
    else:
        raise StoreError(f"unsupported database {conn.dialect.name!r}: use SQLite or PostgreSQL")
    keys = list(table.primary_key.columns)
    # RETURNING says whether the row went in (rowcount is not reliable on every driver).
    statement = insert.values(**values).on_conflict_do_nothing(index_elements=keys).returning(*keys)
    return conn.execute(statement).first() is not None


def _upsert(
    conn: sa.Connection,
    table: sa.Table,
    key: str,
    values: Mapping[str, Any],
    customer_id: str,
    *,
    check: Callable[[sa.RowMapping], None] | None = None,
) -> WriteResult:
    """Insert a row, update it when it differs, or leave it; logs a change when written.

    `check` vets the stored row (if any) before it is compared or updated.
    """
    id_ = values[key]

    def stored_row() -> sa.RowMapping | None:
        return conn.execute(sa.select(table).where(table.c[key] == id_)).mappings().first()

    stored = stored_row()
    if stored is None and _insert_new(conn, table, values):
        status: WriteStatus = "created"
    else:
        if stored is None:
            # A concurrent write stored this id between our read and our insert (its
            # transaction has committed: ON CONFLICT waited for it). Compare with it.
            stored = stored_row()
            if stored is None:
                raise StoreError(f"{table.name} row {id_!r} vanished during the write; retry")
        if check is not None:
            check(stored)
        if all(_comparable(stored[c]) == _comparable(v) for c, v in values.items()):
            return WriteResult(id=id_, customer_id=customer_id, status="unchanged")
        conn.execute(table.update().where(table.c[key] == id_).values(**values))
        status = "updated"
    log_change(conn, customer_id=customer_id, kind=table.name[:16])
    return WriteResult(id=id_, customer_id=customer_id, status=status)


def record_invoice(
    engine: sa.Engine, invoice: Mapping[str, Any], *, base_currency: str = "EUR"
) -> WriteResult:
    """Store an invoice event (canonical invoice columns), its amount in `base_currency`
    (`serving.event_currency`).

    Raises:
        UnknownEntityError: the customer is not in the store.
        ConflictError: the invoice exists for another customer.
        InvalidRequestError: its currency has no stored exchange rate.
    """
    values = dict(invoice)
    values["disputed"] = bool(values.get("disputed") or values.get("dispute_date"))

    def same_owner(stored: sa.RowMapping) -> None:
        if stored["customer_id"] != values["customer_id"]:
            raise ConflictError(
                f"invoice {values['invoice_id']!r} belongs to customer {stored['customer_id']!r}, "
                f"not {values['customer_id']!r}: an invoice cannot move between customers"
            )

    with engine.begin() as conn:
        _require_customer(conn, values["customer_id"])
        values = invoice_in_base(conn, values, base_currency)
        before = conn.execute(
            sa.select(_invoices.c.fx_rate).where(_invoices.c.invoice_id == values["invoice_id"])
        ).scalar()
        result = _upsert(
            conn, _invoices, "invoice_id", values, values["customer_id"], check=same_owner
        )
        if before is not None and not math.isclose(float(before), values["fx_rate"]):
            # Another issue date or currency, another rate: its stored payments and credit
            # notes follow, or a paid invoice would keep a residual (as an import does).
            restated = restate_invoice_rows(conn, values["invoice_id"], values["fx_rate"])
            logger.info("invoice event %s: %d stored rows converted again", result.id, restated)
    logger.info("invoice event %s: %s", result.id, result.status)
    return result


def record_payment(engine: sa.Engine, payment: Mapping[str, Any]) -> WriteResult:
    """Store a payment event (canonical payment columns; customer_id may be omitted),
    converted at its invoice's exchange rate. A payment before the invoice's issue date
    is a prepayment, stored like an import stores one.

    Raises:
        UnknownEntityError: the invoice is not in the store.
        ConflictError: the payment names another customer than its invoice's.
    """
    values = dict(payment)
    with engine.begin() as conn:
        invoice = conn.execute(
            sa.select(_invoices.c.customer_id, _invoices.c.fx_rate).where(
                _invoices.c.invoice_id == values["invoice_id"]
            )
        ).first()
        if invoice is None:
            raise UnknownEntityError(
                f"unknown invoice {values['invoice_id']!r}: send the invoice event first"
            )
        given = values.get("customer_id")
        if given and given != invoice.customer_id:
            raise ConflictError(
                f"payment {values['payment_id']!r} names customer {given!r} but invoice "
                f"{values['invoice_id']!r} belongs to {invoice.customer_id!r}"
            )
        values = payment_in_base(values, invoice.fx_rate)
        values["customer_id"] = invoice.customer_id
        result = _upsert(conn, _payments, "payment_id", values, invoice.customer_id)
    logger.info("payment event %s: %s", result.id, result.status)
    return result


def _request_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def record_action(
    engine: sa.Engine,
    action: Mapping[str, Any],
    *,
    request_body: Mapping[str, Any],
    idempotency_key: str | None,
    scope: str,
    render: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> tuple[dict[str, Any], bool]:
    """Store a collector action, once per idempotency key.

    Args:
        engine: the store.
        action: canonical action columns without action_id (and `at` may be None: now).
        request_body: the request as the client sent it (a replay must match it).
        idempotency_key: the client's Idempotency-Key, or None (every call stores).
        scope: the key's namespace (e.g. per API key), so clients cannot collide.
        render: turns the stored row into the response body (kept for replays).

    Returns:
        The response body, and whether this call created the action (False: a replay).

    Raises:
        UnknownEntityError: unknown customer or invoice.
        ConflictError: the invoice belongs to another customer.
        ConflictError: the key was used before with another request body.
    """
    digest = _request_hash(request_body)
    with engine.begin() as conn:
        if idempotency_key is not None:
            replay = _replay(conn, scope, idempotency_key, digest)
            if replay is not None:
                return replay, False
        values = dict(action)
        _require_customer(conn, values["customer_id"])
        if values.get("invoice_id"):
            owner = conn.execute(
                sa.select(_invoices.c.customer_id).where(
                    _invoices.c.invoice_id == values["invoice_id"]
                )
            ).scalar()
            if owner is None:
                raise UnknownEntityError(f"unknown invoice {values['invoice_id']!r}")
            if owner != values["customer_id"]:
                raise ConflictError(
                    f"invoice {values['invoice_id']!r} belongs to customer {owner!r}, "
                    f"not {values['customer_id']!r}"
                )
        values["action_id"] = f"api-{uuid.uuid4().hex[:20]}"
        values["at"] = values.get("at") or _now()
        body = render(values)
        # The key is claimed first: a concurrent request with the same key waits here for
        # this transaction, then replays its answer; the action, its change-log row and
        # the key commit together or not at all.
        if idempotency_key is not None:
            claimed = _insert_new(
                conn,
                idempotency_keys,
                {
                    "scope": scope,
                    "key": idempotency_key,
                    "request_hash": digest,
                    "status_code": 201,
                    "response": json.dumps(body, default=str),
                    "created_at": _now(),
                },
            )
            if not claimed:
                replay = _replay(conn, scope, idempotency_key, digest)
                if replay is None:
                    raise StoreError(f"Idempotency-Key {idempotency_key!r} vanished; retry")
                return replay, False
        conn.execute(_actions.insert().values(**values))
        log_change(conn, customer_id=values["customer_id"], kind="action")
    logger.info("action %s (%s) stored", values["action_id"], values["kind"])
    return body, True


def _replay(conn: sa.Connection, scope: str, key: str, digest: str) -> dict[str, Any] | None:
    """The stored answer to this key (None: unused key); ConflictError for another body."""
    stored = conn.execute(
        sa.select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
            idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
        )
    ).first()
    if stored is None:
        return None
    if stored.request_hash != digest:
        raise ConflictError(
            "this Idempotency-Key was already used with a different request; "
            "use a new key for a new action"
        )
    return dict(json.loads(stored.response))


# Changes of a customer's approved limit returned with each new one, newest first.
LIMIT_HISTORY_SHOWN = 20


@dataclass(frozen=True)
class LimitChange:
    """One change of a customer's approved credit limit."""

    customer_id: str
    at: datetime.datetime
    previous_limit: float | None
    new_limit: float
    author: str
    reason: str


def limit_history(conn: sa.Connection, customer_id: str) -> list[LimitChange]:
    """The customer's last `LIMIT_HISTORY_SHOWN` limit changes, newest first."""
    c = credit_limit_changes.c
    rows = conn.execute(
        sa.select(credit_limit_changes)
        .where(c.customer_id == customer_id)
        .order_by(c.change_id.desc())
        .limit(LIMIT_HISTORY_SHOWN)
    ).mappings()
    return [
        LimitChange(
            customer_id=row["customer_id"],
            # SQLite gives back naive datetimes; they were stored in UTC.
            at=row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=datetime.UTC),
            previous_limit=row["previous_limit"],
            new_limit=float(row["new_limit"]),
            author=row["author"],
            reason=row["reason"],
        )
        for row in rows
    ]


def set_credit_limit(
    engine: sa.Engine, *, customer_id: str, limit: float, reason: str, author: str
) -> list[LimitChange]:
    """Set a customer's approved credit limit and log who did it and why.

    The limit is the customer's `credit_limit` (the one an import sets too), so every
    worker checks orders against it once it has applied the change-log row written here.

    Returns:
        The customer's limit changes, newest (this one) first.

    Raises:
        UnknownEntityError: the customer is not in the store.
    """
    with engine.begin() as conn:
        lock_customer(conn, customer_id)  # concurrent changes log their true predecessor
        previous = conn.execute(
            sa.select(_customers.c.credit_limit).where(_customers.c.customer_id == customer_id)
        ).scalar()
        conn.execute(
            _customers.update()
            .where(_customers.c.customer_id == customer_id)
            .values(credit_limit=limit)
        )
        conn.execute(
            credit_limit_changes.insert().values(
                customer_id=customer_id,
                at=_now(),
                previous_limit=previous,
                new_limit=limit,
                author=author,
                reason=reason,
            )
        )
        log_change(conn, customer_id=customer_id, kind="credit_limit")
        history = limit_history(conn, customer_id)
    logger.info("credit limit of %s set to %s by %s", customer_id, limit, author)
    return history
