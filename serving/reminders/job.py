"""One reminder run: what it would send (a dry run, writes nothing) or sending it.

Each customer's e-mail is claimed, sent, and retried with exponential backoff within the
run while the delay is short (`DUECAST_REMINDERS_MAX_WAIT_SECONDS`); a longer delay is
left to the next run (status "retrying"), and after `DUECAST_REMINDERS_MAX_ATTEMPTS`
attempts the mail is given up ("failed"). A bounce fails at once. A customer without an
e-mail address is reported and skipped (nothing is recorded, so it is sent once an
address is imported).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.message import EmailMessage

import sqlalchemy as sa

from features.store import ensure_schema, get_engine
from kernel.config import Settings
from kernel.errors import ConfigurationError
from serving.loader import load_state
from serving.reminders.render import render_mail
from serving.reminders.selection import STEP, ReminderBatch, due_batches
from serving.reminders.sends import Claim, claim_rows, expire_stale_claims, release, settle
from serving.reminders.transport import SendError, build_message, send_message
from serving.state import ServingState

__all__ = ["MailOutcome", "RunReport", "plan_reminders", "send_reminders"]

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Progress = Callable[[int, int], None]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class MailOutcome:
    """What became of one customer's e-mail in a run.

    Attributes:
        status: "sent", "retrying", "failed", "no_address" (skipped), or "claimed
            elsewhere" (a concurrent run holds every invoice of it).
        invoice_ids: the invoices the e-mail listed (or would have).
        attempts: attempts made in this run.
        error: the last error, if any.
    """

    customer_id: str
    recipient: str | None
    status: str
    invoice_ids: tuple[str, ...]
    attempts: int = 0
    error: str | None = None


@dataclass
class RunReport:
    """A run's plan (`batches`) and, when it sent, what became of each e-mail."""

    as_of: dt.date
    sent_mode: bool
    batches: list[ReminderBatch]
    outcomes: list[MailOutcome] = field(default_factory=list)
    expired_claims: int = 0

    def count(self, status: str) -> int:
        """E-mails of this run with `status`."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[MailOutcome]:
        """The e-mails given up in this run (bounced or out of attempts)."""
        return [o for o in self.outcomes if o.status == "failed"]


def plan_reminders(
    settings: Settings,
    *,
    state: ServingState | None = None,
    engine: sa.Engine | None = None,
    as_of: dt.date | None = None,
    now: dt.datetime | None = None,
) -> RunReport:
    """What a run would send as of `as_of` (default: the serving date); writes nothing."""
    engine = engine or get_engine(settings.database_url)
    state = state or load_state(settings, engine=engine, as_of=as_of)
    batches = due_batches(state, engine, now=now or _utc_now())
    return RunReport(as_of=state.as_of, sent_mode=False, batches=batches)


def send_reminders(
    settings: Settings,
    *,
    state: ServingState | None = None,
    engine: sa.Engine | None = None,
    as_of: dt.date | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = _utc_now,
    on_progress: Progress | None = None,
) -> RunReport:
    """Send the reminders due as of `as_of` (default: the serving date) and record them.

    Args:
        sleep, clock: waiting and time, injectable so tests need not wait.
        on_progress: called with (e-mails done, e-mails in the run).

    Raises:
        ConfigurationError: DUECAST_SMTP_HOST or DUECAST_SMTP_FROM is not set.
    """
    smtp = settings.reminders.smtp
    if not smtp.configured:
        raise ConfigurationError(
            "reminders need a mail server: set DUECAST_SMTP_HOST and DUECAST_SMTP_FROM "
            "(and DUECAST_SMTP_PORT, _USERNAME, _PASSWORD, _STARTTLS or _SSL as it needs)"
        )
    engine = engine or get_engine(settings.database_url)
    ensure_schema(engine)  # reminder_sends came with schema 0009
    expired = expire_stale_claims(engine, now=clock())
    report = plan_reminders(settings, state=state, engine=engine, as_of=as_of, now=clock())
    report.sent_mode, report.expired_claims = True, expired
    for done, batch in enumerate(report.batches, start=1):
        outcome = _deliver(settings, engine, batch, as_of=report.as_of, sleep=sleep, clock=clock)
        report.outcomes.append(outcome)
        if on_progress is not None:
            on_progress(done, len(report.batches))
    logger.info(
        "Reminders as of %s: %d sent, %d retrying, %d failed, %d without an e-mail address",
        report.as_of,
        report.count("sent"),
        report.count("retrying"),
        report.count("failed"),
        report.count("no_address"),
    )
    return report


def _deliver(
    settings: Settings,
    engine: sa.Engine,
    batch: ReminderBatch,
    *,
    as_of: dt.date,
    sleep: Callable[[float], None],
    clock: Clock,
) -> MailOutcome:
    """Claim, render, send (with retries) and record one customer's e-mail."""
    ids = tuple(line.invoice_id for line in batch.lines)
    if batch.recipient is None:
        logger.warning("Customer %s has no e-mail address: reminder not sent", batch.customer_id)
        return MailOutcome(batch.customer_id, None, "no_address", ids, error="no e-mail address")
    recipient = batch.recipient
    claims = claim_rows(
        engine,
        customer_id=batch.customer_id,
        invoice_ids=ids,
        step=STEP,
        recipient=recipient,
        now=clock(),
    )
    if not claims:
        return MailOutcome(batch.customer_id, recipient, "claimed elsewhere", ids)
    held = {c.invoice_id for c in claims}
    batch = replace(batch, lines=tuple(ln for ln in batch.lines if ln.invoice_id in held))
    conf = settings.reminders
    try:
        mail = render_mail(batch, step=STEP, as_of=as_of, templates_dir=conf.templates_dir)
        message = build_message(
            mail, sender=conf.smtp.from_address, recipient=recipient, now=clock()
        )
    except Exception:
        release(engine, claims, step=STEP)  # nothing went out: the next run may send it
        raise
    made, status, error, retry_at = _attempts(settings, message, claims, sleep, clock)
    final = settle(
        engine,
        claims,
        customer_id=batch.customer_id,
        step=STEP,
        status=status,
        attempts_made=made,
        now=clock(),
        subject=mail.subject,
        error=error,
        max_attempts=conf.max_attempts,
        next_attempt_at=retry_at,
    )
    status = "failed" if "failed" in final.values() else status
    if status != "sent":
        logger.warning(
            "Reminder to %s (%s) %s after %d attempts: %s",
            batch.customer_id,
            batch.recipient,
            status,
            made,
            error,
        )
    return MailOutcome(batch.customer_id, batch.recipient, status, tuple(sorted(held)), made, error)


def _attempts(
    settings: Settings,
    message: EmailMessage,
    claims: list[Claim],
    sleep: Callable[[float], None],
    clock: Clock,
) -> tuple[int, str, str | None, dt.datetime | None]:
    """Send with retries: (attempts made, "sent" | "failed" | "retrying", error, retry at)."""
    conf = settings.reminders
    before = max(c.attempts for c in claims)
    made = 0
    while True:
        made += 1
        try:
            send_message(conf.smtp, message)
        except SendError as exc:
            if exc.permanent:
                return made, "failed", f"bounced: {exc.reason}", None
            total = before + made
            delay = conf.backoff(total)
            if total >= conf.max_attempts:
                return made, "failed", f"gave up after {total} attempts: {exc.reason}", None
            if delay > conf.max_wait_seconds:
                retry_at = clock() + dt.timedelta(seconds=delay)
                return made, "retrying", exc.reason, retry_at
            logger.info("Reminder send failed (%s); retrying in %.1f s", exc.reason, delay)
            sleep(delay)
        else:
            return made, "sent", None, None
