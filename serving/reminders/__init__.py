"""Automated reminders: the dunning ladder's automatic step, e-mailed by the system.

    selection.py  what to send as of a day: the worklist's automated reminders, per invoice
    render.py     the e-mail: Jinja2 templates per step and language (English fallback)
    transport.py  SMTP (smtplib; STARTTLS / SSL / login optional), bounces told from failures
    sends.py      the once-only ledger `reminder_sends`: claims, outcomes, the action logged
    job.py        one run: plan (dry run) or send with retries; its report
    schedule.py   the optional daily in-process schedule the API's lifespan can start

What is sent: exactly the invoices the day's worklist gives the step "reminder" on
customers whose next action is an automated reminder (`allocation.is_automated`).
Disputed invoices (dispute resolution), invoices under an unbroken promise (waiting for
it) and invoices whose customer needs a call or an escalation are never reminded.

One e-mail per customer lists all its invoices due for the reminder, but the bookkeeping
is per (invoice, step): each is sent at most once. Before sending, a run claims each
invoice's row in `reminder_sends` (status "sending", inserted with ON CONFLICT DO
NOTHING, or a due "retrying" row updated under a status condition) in its own committed
transaction; the mail lists only the rows it claimed. Two runs at once (cron plus the
schedule, or several API workers) therefore never send the same (invoice, step) twice.
A claim a run never settled (it died mid-send) is marked "failed" after an hour, not
retried: the mail may have gone out, and at most once wins over at least once.
"""

from __future__ import annotations

from serving.reminders.job import MailOutcome, RunReport, plan_reminders, send_reminders
from serving.reminders.schedule import run_reminder_schedule
from serving.reminders.selection import ReminderBatch, ReminderLine

__all__ = [
    "MailOutcome",
    "ReminderBatch",
    "ReminderLine",
    "RunReport",
    "plan_reminders",
    "run_reminder_schedule",
    "send_reminders",
]
