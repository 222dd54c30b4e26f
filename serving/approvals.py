"""Approved orders' reservations in the store: read them, and write one atomically.

An approval is final only once written here. `reserve` locks the customer (a row lock on
PostgreSQL; SQLite's single writer lock, `serving.approvals_sqlite`), reads the
customer's reservations still active, lets the caller decide with them and writes the
new reservation in the same transaction: two approvals of one customer at once, on any
workers, are decided one after the other, so they cannot both pass a limit only one of
them fits. Reservations write no change-log row: the worker that writes one keeps it in
memory, and any worker approving for the customer reads them all again here.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from features.store import customers, order_reservations
from kernel.errors import UnknownEntityError
from serving.approvals_sqlite import Decide, StoreBusy, reserve_sqlite
from serving.decisions.exposure import Reservation

__all__ = ["Reserved", "StoreBusy", "active_reservations", "lock_customer", "reserve"]

logger = logging.getLogger(__name__)

_r = order_reservations.c


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    assert isinstance(value, dt.date), f"expected a date, got {value!r}"
    return value


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite gives back naive datetimes (stored in UTC): comparable with aware ones again.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _reservation(row: sa.RowMapping) -> Reservation:
    known = row["known_invoices"]
    return Reservation(
        reservation_id=row["reservation_id"],
        customer_id=row["customer_id"],
        amount=float(row["amount"]),
        decided_on=_as_date(row["decided_on"]),
        expires_on=_as_date(row["expires_on"]),
        order_id=row["order_id"],
        known_invoices=frozenset(known.split("\n")) if known else frozenset(),
        created_at=_utc(row["created_at"]),
    )


def active_reservations(
    conn: sa.Connection, *, as_of: dt.date, customer_ids: Iterable[str] | None = None
) -> dict[str, tuple[Reservation, ...]]:
    """Reservations active on `as_of` by customer (every customer, or those named)."""
    query = sa.select(order_reservations).where(_r.decided_on <= as_of, _r.expires_on > as_of)
    if customer_ids is not None:
        query = query.where(_r.customer_id.in_(sorted(set(customer_ids))))
    out: dict[str, list[Reservation]] = {}
    for row in conn.execute(query).mappings():
        found = _reservation(row)
        out.setdefault(found.customer_id, []).append(found)
    return {cid: tuple(rs) for cid, rs in out.items()}


def lock_customer(conn: sa.Connection, customer_id: str) -> None:
    """Hold the customer until the transaction ends; UnknownEntityError without one."""
    if conn.dialect.name == "postgresql":
        statement = (
            sa.select(customers.c.customer_id)
            .where(customers.c.customer_id == customer_id)
            .with_for_update()
        )
        found = conn.execute(statement).first() is not None
    else:
        # SQLite has one writer: a write first takes its lock before anything is read
        # (a read first would let two transactions read, then one fail to write).
        touch = (
            customers.update()
            .where(customers.c.customer_id == customer_id)
            .values(name=customers.c.name)
        )
        found = conn.execute(touch).rowcount == 1
    if not found:
        raise UnknownEntityError(
            f"unknown customer {customer_id!r}: import the customer first, or check the id"
        )


# SQLite has one writer per file: a worker's approvals take turns here, then on a lock
# file across workers (`serving.approvals_sqlite`), not in SQLite's polling busy handler.
_SQLITE_WRITER = threading.Lock()


@dataclass(frozen=True)
class Reserved:
    """What `reserve` did: the new reservation (None: not approved) and every active one."""

    reservation: Reservation | None
    active: tuple[Reservation, ...]


def reserve(
    engine: sa.Engine,
    *,
    customer_id: str,
    amount: float,
    decided_on: dt.date,
    days: int,
    approve: Callable[[tuple[Reservation, ...]], bool],
    order_id: str | None = None,
    known_invoices: Iterable[str] = (),
    wait: bool = True,
) -> Reserved:
    """Reserve `amount` for the customer if `approve` says yes, atomically per customer.

    Args:
        engine: the store.
        customer_id: the customer.
        amount: the order amount.
        decided_on: the day of the decision (the reservation's first day).
        days: how many days it lasts at most (`reservation_days`).
        approve: called, under the customer's lock, with the customer's other active
            reservations (a reservation of the same `order_id` is replaced, so left
            out); True writes the reservation.
        order_id: the order system's reference, if sent.
        known_invoices: invoices issued on `decided_on` already counted in the exposure.
        wait: False to never wait (on the event loop): a SQLite file store whose lock is
            free is written at once, anything else raises StoreBusy.

    Raises:
        UnknownEntityError: the customer is not in the store.
        StoreBusy: with `wait` False, the write would have to wait (nothing was done).
    """

    def decide(
        active: tuple[Reservation, ...],
    ) -> tuple[tuple[Reservation, ...], Reservation | None]:
        others = tuple(r for r in active if order_id is None or r.order_id != order_id)
        if not approve(others):
            return others, None
        return others, Reservation(
            reservation_id=uuid.uuid4().hex,
            customer_id=customer_id,
            amount=float(amount),
            decided_on=decided_on,
            expires_on=decided_on + dt.timedelta(days=days),
            order_id=order_id,
            known_invoices=frozenset(known_invoices),
            created_at=dt.datetime.now(dt.UTC),
        )

    database = engine.url.database if engine.dialect.name == "sqlite" else None
    in_file = bool(database) and database != ":memory:"
    if not wait and not in_file:
        raise StoreBusy("only a SQLite file store is written without waiting")
    if engine.dialect.name == "sqlite":
        if not _SQLITE_WRITER.acquire(blocking=wait):
            raise StoreBusy("this worker is confirming another approval")
        try:
            if in_file:
                assert database is not None
                kept, new = reserve_sqlite(
                    database, customer_id=customer_id, as_of=decided_on, decide=decide, wait=wait
                )
            else:
                kept, new = _reserve_in_transaction(engine, customer_id, decided_on, decide)
        finally:
            _SQLITE_WRITER.release()
    else:  # PostgreSQL locks per customer: approvals of others run in parallel
        kept, new = _reserve_in_transaction(engine, customer_id, decided_on, decide)
    if new is None:
        return Reserved(None, kept)
    logger.debug("Reserved %s for customer %s until %s", amount, customer_id, new.expires_on)
    return Reserved(new, (*kept, new))


def _reserve_in_transaction(
    engine: sa.Engine, customer_id: str, as_of: dt.date, decide: Decide
) -> tuple[tuple[Reservation, ...], Reservation | None]:
    """`reserve_sqlite`'s contract through SQLAlchemy, the customer row-locked."""
    with engine.connect() as conn, conn.begin():
        lock_customer(conn, customer_id)
        active = active_reservations(conn, as_of=as_of, customer_ids=[customer_id])
        others, new = decide(active.get(customer_id, ()))
        if new is None:
            return active.get(customer_id, ()), None
        if new.order_id is not None:
            conn.execute(
                order_reservations.delete().where(
                    _r.customer_id == customer_id, _r.order_id == new.order_id
                )
            )
        conn.execute(
            order_reservations.insert().values(
                reservation_id=new.reservation_id,
                customer_id=customer_id,
                order_id=new.order_id,
                amount=new.amount,
                decided_on=new.decided_on,
                expires_on=new.expires_on,
                # Ids hold no control characters (`kernel.limits`): one per line.
                known_invoices="\n".join(sorted(new.known_invoices)) or None,
                created_at=new.created_at,
            )
        )
    return others, new
