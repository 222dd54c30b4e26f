"""Automated reminders by e-mail (issue 13, point 7), against a local SMTP server.

The store is the API test store plus invoices due for a reminder
(`tests.utils.reminder_support.prepare_store`): one customer with two of them, one with
one, one whose invoice is disputed, one under a promise to pay, one without an address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from features.store import TABLE_OBJECTS, get_engine, reminder_sends
from kernel.config import Settings
from kernel.errors import ConfigurationError
from serving.reminders import plan_reminders, send_reminders
from serving.reminders.render import render_mail
from serving.reminders.selection import ReminderBatch, ReminderLine
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from tests.utils.reminder_support import MailServer, Prepared, mail_server, prepare_store, with_smtp

_actions = TABLE_OBJECTS["actions"]


@pytest.fixture
def server() -> Iterator[MailServer]:
    with mail_server() as running:
        yield running


@pytest.fixture
def store(api_template: ApiTemplate, tmp_path: Path) -> tuple[Settings, sa.Engine, Prepared]:
    settings = settings_for(api_template, tmp_path)
    engine = get_engine(settings.database_url)
    return settings, engine, prepare_store(settings, engine)


def _rows(engine: sa.Engine) -> dict[str, sa.Row]:
    with engine.connect() as conn:
        return {r.invoice_id: r for r in conn.execute(sa.select(reminder_sends))}


def _system_reminders(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(_actions).where(
                    _actions.c.author == "system", _actions.c.kind == "reminder"
                )
            )
        )


def test_the_right_invoices_get_one_mail_per_customer_and_a_second_run_sends_nothing(
    store: tuple[Settings, sa.Engine, Prepared], server: MailServer
) -> None:
    settings, engine, p = store
    settings = with_smtp(settings, server.port)
    report = send_reminders(settings, engine=engine)
    assert report.as_of == AS_OF
    by_customer = {o.customer_id: o for o in report.outcomes}
    # Disputed and promised invoices are never reminded; no address: reported, not sent.
    assert set(by_customer) == {p.grouped, p.single, p.no_address}
    assert by_customer[p.no_address].status == "no_address"
    assert by_customer[p.no_address].error == "no e-mail address"
    assert report.count("sent") == 2 and not report.failed
    # One mail per customer, listing each of its due invoices once.
    assert len(server.received) == 2
    assert sorted(server.invoices_mailed()) == sorted(p.invoices[p.grouped] + p.invoices[p.single])
    grouped = next(m for m in server.received if p.invoices[p.grouped][0] in str(m.get_payload()))
    assert grouped["Subject"].startswith(("Payment reminder: 2", "Zahlungserinnerung: 2", "Rappel"))
    assert grouped["Auto-Submitted"] == "auto-generated"
    # Bookkeeping per (invoice, step), and one system action per invoice.
    rows = _rows(engine)
    assert set(rows) == set(p.invoices[p.grouped] + p.invoices[p.single])
    assert {r.status for r in rows.values()} == {"sent"}
    actions = _system_reminders(engine)
    assert sorted(a.invoice_id for a in actions) == sorted(rows)
    assert {a.action_id for a in actions} == {r.action_id for r in rows.values()}
    assert all(a.text == grouped["Subject"] for a in actions if a.customer_id == p.grouped)

    again = send_reminders(settings, engine=engine)
    assert [o.status for o in again.outcomes] == ["no_address"]
    assert len(server.received) == 2 and len(_system_reminders(engine)) == len(actions)


def test_dry_run_lists_what_would_be_sent_and_writes_nothing(
    store: tuple[Settings, sa.Engine, Prepared], server: MailServer
) -> None:
    settings, engine, p = store
    with engine.connect() as conn:
        before = [
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in (_actions, reminder_sends)
        ]
    report = plan_reminders(with_smtp(settings, server.port), engine=engine)
    planned = {b.customer_id: [line.invoice_id for line in b.lines] for b in report.batches}
    # Each customer's invoices oldest due date first.
    assert planned == {c: p.invoices[c][::-1] for c in (p.grouped, p.single, p.no_address)}
    assert report.batches[0].totals  # amounts per currency for the table
    with engine.connect() as conn:
        after = [
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in (_actions, reminder_sends)
        ]
    assert after == before and server.attempts == 0


def test_a_temporary_failure_is_retried_with_backoff_then_reported(
    store: tuple[Settings, sa.Engine, Prepared], server: MailServer
) -> None:
    settings, engine, p = store
    server.temporary_failures = 1_000
    waits: list[float] = []
    report = send_reminders(with_smtp(settings, server.port), engine=engine, sleep=waits.append)
    assert waits == [0.01, 0.02] * 2  # two mails, three attempts each, doubling delays
    assert server.attempts == 6 and not server.received
    assert {o.customer_id for o in report.failed} == {p.grouped, p.single}
    assert all("gave up after 3 attempts" in (o.error or "") for o in report.failed)
    rows = _rows(engine)
    assert {(r.status, r.attempts) for r in rows.values()} == {("failed", 3)}
    assert all("451" in r.last_error for r in rows.values())
    assert not _system_reminders(engine)
    # Given up for good: a later run does not try again.
    server.temporary_failures = 0
    send_reminders(with_smtp(settings, server.port), engine=engine, sleep=waits.append)
    assert not server.received


def test_a_long_backoff_is_left_to_the_next_run(
    store: tuple[Settings, sa.Engine, Prepared], server: MailServer
) -> None:
    settings, engine, _ = store
    settings = with_smtp(settings, server.port, max_wait_seconds=0.015, max_attempts=5)
    server.temporary_failures = 4  # two attempts per mail fail
    now = dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
    first = send_reminders(settings, engine=engine, sleep=lambda s: None, clock=lambda: now)
    assert first.count("retrying") == 2 and not server.received
    rows = _rows(engine)
    assert {(r.status, r.attempts) for r in rows.values()} == {("retrying", 2)}
    # Not yet due: the next run at the same instant leaves them alone.
    send_reminders(settings, engine=engine, sleep=lambda s: None, clock=lambda: now)
    assert server.attempts == 4
    later = now + dt.timedelta(seconds=1)
    second = send_reminders(settings, engine=engine, sleep=lambda s: None, clock=lambda: later)
    assert second.count("sent") == 2 and len(server.received) == 2
    assert {(r.status, r.attempts) for r in _rows(engine).values()} == {("sent", 3)}


def test_a_bounce_fails_at_once(
    store: tuple[Settings, sa.Engine, Prepared], server: MailServer
) -> None:
    settings, engine, p = store
    with engine.connect() as conn:
        customers = TABLE_OBJECTS["customers"]
        address = conn.execute(
            sa.select(customers.c.email).where(customers.c.customer_id == p.single)
        ).scalar_one()
    server.refuse.add(address)
    waits: list[float] = []
    report = send_reminders(with_smtp(settings, server.port), engine=engine, sleep=waits.append)
    (bounced,) = report.failed
    assert bounced.customer_id == p.single and bounced.attempts == 1
    assert "bounced" in (bounced.error or "") and "550" in (bounced.error or "")
    assert waits == [] and report.count("sent") == 1
    row = _rows(engine)[p.invoices[p.single][0]]
    assert (row.status, row.attempts) == ("failed", 1)


def test_sending_without_a_mail_server_is_a_configuration_error(
    store: tuple[Settings, sa.Engine, Prepared],
) -> None:
    settings, engine, _ = store
    with pytest.raises(ConfigurationError, match="DUECAST_SMTP_HOST"):
        send_reminders(settings, engine=engine)


def _batch(language: str) -> ReminderBatch:
    line = ReminderLine("I-1", dt.date(2026, 3, 1), 1, 1234.5, "EUR")
    return ReminderBatch("C1", "Cedar Foods GmbH", "ap@x.example", language, (line,))


def test_templates_per_language_fall_back_to_english(tmp_path: Path) -> None:
    german = render_mail(_batch("de"), step="reminder", as_of=AS_OF)
    assert german.subject.startswith("Zahlungserinnerung: 1 offene Rechnung")
    assert "1.234,50 EUR" in german.body and "01.03.2026" in german.body
    english = render_mail(_batch("pt"), step="reminder", as_of=AS_OF)
    assert english.subject.startswith("Payment reminder: 1 open invoice")
    assert "1,234.50 EUR" in english.body
    # A team's own template wins over the built-in one.
    (tmp_path / "reminder.en.txt").write_text(
        "Subject: Hello {{ customer_name }}\n\nPay {{ lines[0].invoice_id }}\n"
    )
    own = render_mail(_batch("en"), step="reminder", as_of=AS_OF, templates_dir=tmp_path)
    assert (own.subject, own.body) == ("Hello Cedar Foods GmbH", "Pay I-1\n")
    (tmp_path / "reminder.fr.txt").write_text("no subject line\n")
    with pytest.raises(ConfigurationError, match="Subject"):
        render_mail(_batch("fr"), step="reminder", as_of=AS_OF, templates_dir=tmp_path)


def test_generated_customers_carry_an_email_and_language_into_the_store(
    store: tuple[Settings, sa.Engine, Prepared],
) -> None:
    _, engine, _ = store
    customers = TABLE_OBJECTS["customers"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(customers.c.email, customers.c.language, customers.c.country)
        ).all()
    with_address = [r for r in rows if r.email]
    assert len(with_address) == len(rows) - 1  # prepare_store removed one
    assert all(r.email.startswith("ap@") and r.email.endswith(".example") for r in with_address)
    assert {r.language for r in rows if r.country == "DE"} == {"de"}
    assert {r.language for r in rows if r.country not in ("DE", "FR")} == {"en"}


def test_a_claim_left_by_a_dead_run_is_marked_failed_not_sent_again(
    store: tuple[Settings, sa.Engine, Prepared], server: MailServer
) -> None:
    settings, engine, p = store
    left = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    invoice_id = p.invoices[p.single][0]
    with engine.begin() as conn:
        conn.execute(
            reminder_sends.insert().values(
                invoice_id=invoice_id,
                step="reminder",
                customer_id=p.single,
                recipient="ap@x.example",
                status="sending",
                attempts=0,
                first_attempt_at=left,
                last_attempt_at=left,
            )
        )
    report = send_reminders(with_smtp(settings, server.port), engine=engine)
    assert report.expired_claims == 1
    assert {o.customer_id for o in report.outcomes if o.status == "sent"} == {p.grouped}
    row = _rows(engine)[invoice_id]
    assert row.status == "failed" and "may or may not" in row.last_error
    assert invoice_id not in server.invoices_mailed()
