"""A local SMTP server (aiosmtpd) and a store with invoices due for an automated reminder.

`MailServer` records every accepted message; it can refuse recipients (550: a bounce)
or answer DATA with a temporary failure (451) a given number of times. `prepare_store`
adds, to customers of the API test store with nothing due, invoices 1-2 days overdue, so
their next action is the automated reminder (the generated ledger has none on its own).
"""

from __future__ import annotations

import datetime as dt
import email
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from features.store import TABLE_OBJECTS
from kernel.config import Settings
from kernel.smtp import ReminderSettings, SmtpSettings
from serving.loader import load_state
from serving.writes import record_action, record_invoice
from tests.utils.api_support import AS_OF
from tests.utils.net import free_port

SENDER = "Receivables <ar@duecast.example>"


@dataclass
class MailServer:
    """What the server received, and how it should answer the next messages."""

    port: int = 0
    received: list[Message] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    temporary_failures: int = 0  # DATA answered 451 this many more times
    attempts: int = 0  # DATA commands seen

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            return "451 4.3.0 try later"
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def invoices_mailed(self) -> list[str]:
        """Every invoice id listed in the received mails (one entry per mention)."""
        ids: list[str] = []
        for message in self.received:
            payload = message.get_payload(decode=True)
            assert isinstance(payload, bytes)
            body = payload.decode()
            ids += [w.rstrip(",:") for w in body.split() if w.startswith("R-")]
        return ids


@contextmanager
def mail_server() -> Iterator[MailServer]:
    """A running local SMTP server on a free port, stopped afterwards."""
    server = MailServer(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def with_smtp(settings: Settings, port: int, **knobs: Any) -> Settings:
    """`settings` sending through the local server, with fast retries unless told."""
    smtp = SmtpSettings(host="127.0.0.1", port=port, from_address=SENDER, timeout=10)
    values = {"backoff_seconds": 0.01, "max_wait_seconds": 1.0, "max_attempts": 3, **knobs}
    return settings.model_copy(update={"reminders": ReminderSettings(smtp=smtp, **values)})


@dataclass(frozen=True)
class Prepared:
    """The customers made due: `grouped` has two reminder invoices, the rest one each."""

    grouped: str
    single: str
    disputed: str
    promised: str
    no_address: str
    invoices: dict[str, list[str]]


def _at(days_ago: int) -> dt.datetime:
    return dt.datetime.combine(AS_OF - dt.timedelta(days=days_ago), dt.time(9), tzinfo=dt.UTC)


def _log(engine: sa.Engine, action: dict[str, Any]) -> None:
    record_action(
        engine, action, request_body={}, idempotency_key=None, scope="t", render=lambda v: {}
    )


def prepare_store(settings: Settings, engine: sa.Engine) -> Prepared:
    """Invoices 1-2 days overdue for five quiet customers; one disputed, one promised."""
    state = load_state(settings, engine=engine)
    _, waiting = state.ranked()
    quiet = sorted(it.customer_id for it in waiting if it.next_action == "none")[:5]
    assert len(quiet) == 5, "the API test store should have five customers with nothing due"
    grouped, single, disputed, promised, no_address = quiet
    invoices: dict[str, list[str]] = {}
    for cid in quiet:
        count = 2 if cid == grouped else 1
        invoices[cid] = [f"R-{cid}-{k}" for k in range(1, count + 1)]
        for k, invoice_id in enumerate(invoices[cid]):
            record_invoice(
                engine,
                {
                    "invoice_id": invoice_id,
                    "customer_id": cid,
                    "issue_date": AS_OF - dt.timedelta(days=32 + k),
                    "due_date": AS_OF - dt.timedelta(days=1 + k),
                    "amount": 1_200.0 + 100 * k,
                    "currency": "EUR",
                },
            )
    _log(
        engine,
        {
            "customer_id": disputed,
            "invoice_id": invoices[disputed][0],
            "kind": "dispute",
            "at": _at(1),
            "author": "chloe",
            "text": "wrong price",
        },
    )
    _log(
        engine,
        {
            "customer_id": promised,
            "kind": "promise",
            "at": _at(1),
            "author": "chloe",
            "promised_date": AS_OF + dt.timedelta(days=5),
            "text": "pays Friday",
        },
    )
    customers = TABLE_OBJECTS["customers"]
    with engine.begin() as conn:
        conn.execute(
            customers.update().where(customers.c.customer_id == no_address).values(email=None)
        )
    return Prepared(grouped, single, disputed, promised, no_address, invoices)
