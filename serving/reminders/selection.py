"""What a reminder run sends as of a day: one batch per customer, one line per invoice.

The invoices are those the day's worklist gives the step "reminder" on customers whose
next action is an automated reminder (see the package docstring), less those already
settled in `reminder_sends` (sent, given up, being sent, or retrying later).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from features.store import TABLE_OBJECTS, reminder_sends
from serving.decisions.allocation import is_automated, plan_day
from serving.state import ServingState

__all__ = ["STEP", "ReminderBatch", "ReminderLine", "due_batches", "pending_keys"]

# The ladder step the system sends (the only automated one); the once-only key's `step`.
STEP = "reminder"
_CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit

_customers = TABLE_OBJECTS["customers"]
_invoices = TABLE_OBJECTS["invoices"]


@dataclass(frozen=True)
class ReminderLine:
    """One invoice of a reminder, its open amount in the invoice's own currency."""

    invoice_id: str
    due_date: dt.date
    days_overdue: int
    open_amount: float
    currency: str


@dataclass(frozen=True)
class ReminderBatch:
    """One customer's reminder e-mail: where it goes and the invoices it lists."""

    customer_id: str
    name: str
    recipient: str | None
    language: str
    lines: tuple[ReminderLine, ...]

    @property
    def totals(self) -> dict[str, float]:
        """Open amount per currency, in the order the currencies first appear."""
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.currency] = round(out.get(line.currency, 0.0) + line.open_amount, 2)
        return out


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _language(value: object) -> str:
    """ "de-DE", "DE" or "de_AT" -> "de"; empty or odd -> "en"."""
    code = str(value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if len(code) == 2 and code.isalpha() else "en"


def pending_keys(conn: sa.Connection, invoice_ids: Sequence[str], *, now: dt.datetime) -> set[str]:
    """Invoices whose reminder is not to be sent now: sent, given up, being sent, or
    retrying later than `now`."""
    if not sa.inspect(conn).has_table(reminder_sends.name):
        return set()  # a store not yet upgraded to schema 0009 has sent nothing
    c = reminder_sends.c
    blocked: set[str] = set()
    for chunk in _chunks(invoice_ids):
        rows = conn.execute(
            sa.select(c.invoice_id, c.status, c.next_attempt_at).where(
                c.step == STEP, c.invoice_id.in_(chunk)
            )
        )
        for row in rows:
            later = row.next_attempt_at is not None and _utc(row.next_attempt_at) > now
            if row.status != "retrying" or later:
                blocked.add(row.invoice_id)
    return blocked


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite gives back naive datetimes; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _lookup(
    conn: sa.Connection, table: sa.Table, key: str, ids: Iterable[str], columns: Sequence[str]
) -> dict[str, sa.Row]:
    out: dict[str, sa.Row] = {}
    for chunk in _chunks(sorted(set(ids))):
        select = sa.select(table.c[key], *(table.c[c] for c in columns))
        for row in conn.execute(select.where(table.c[key].in_(chunk))):
            out[row[0]] = row
    return out


def due_batches(state: ServingState, engine: sa.Engine, *, now: dt.datetime) -> list[ReminderBatch]:
    """The reminder e-mails due as of `state.as_of`, in worklist order (reads only).

    Args:
        state: the served worklist of the day.
        engine: the store (contacts, invoice currencies, what was sent already).
        now: the current instant (UTC): a retry is due once its next attempt time passed.
    """
    work, _ = state.ranked()
    plan = plan_day(work, policy=state.policy)
    items = [it for it in plan.today if is_automated(it, state.policy)]
    wanted = {it.customer_id: [s for s in it.invoices if s.action == STEP] for it in items}
    invoice_ids = [s.invoice_id for steps in wanted.values() for s in steps]
    with engine.connect() as conn:
        blocked = pending_keys(conn, invoice_ids, now=now)
        contacts = _lookup(conn, _customers, "customer_id", wanted, ("name", "email", "language"))
        money = _lookup(conn, _invoices, "invoice_id", invoice_ids, ("currency", "fx_rate"))
    batches = []
    for customer_id, steps in wanted.items():
        lines = []
        for step in steps:
            if step.invoice_id in blocked:
                continue
            row = money.get(step.invoice_id)
            # Stored amounts are in the base currency; the customer reads its own.
            rate = row.fx_rate if row is not None and row.fx_rate else 1.0
            currency = row.currency if row is not None and row.currency else state.base_currency
            lines.append(
                ReminderLine(
                    invoice_id=step.invoice_id,
                    due_date=step.due_date,
                    days_overdue=step.days_overdue,
                    open_amount=round(step.open_amount / rate, 2),
                    currency=currency,
                )
            )
        if not lines:
            continue
        lines.sort(key=lambda line: (line.due_date, line.invoice_id))  # oldest first
        contact = contacts.get(customer_id)
        email = (contact.email or "").strip() if contact is not None else ""
        batches.append(
            ReminderBatch(
                customer_id=customer_id,
                name=contact.name if contact is not None else customer_id,
                recipient=email or None,
                language=_language(contact.language if contact is not None else None),
                lines=tuple(lines),
            )
        )
    return batches
