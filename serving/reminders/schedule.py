"""The optional in-process schedule: send the reminders daily at `DUECAST_REMINDERS_SEND_AT`.

The API's lifespan starts `run_reminder_schedule(settings)` as a task and cancels it on
shutdown. Every worker may run it: the claims in `reminder_sends` (see the package
docstring) let only one of them send each (invoice, step), whichever claims it first.
A failed run is logged and the loop waits for the next day; it never stops the API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from kernel.config import Settings
from serving.reminders.job import RunReport, send_reminders
from serving.state import ServingState

__all__ = ["next_run", "run_reminder_schedule"]

logger = logging.getLogger(__name__)


def next_run(now: dt.datetime, at: dt.time) -> dt.datetime:
    """The first instant at time of day `at` (UTC) strictly after `now`."""
    now = now.astimezone(dt.UTC)
    today = dt.datetime.combine(now.date(), at.replace(tzinfo=None), tzinfo=dt.UTC)
    return today if today > now else today + dt.timedelta(days=1)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def run_reminder_schedule(
    settings: Settings,
    *,
    state: Callable[[], ServingState] | None = None,
    clock: Callable[[], dt.datetime] = _utc_now,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Send the reminders every day at `settings.reminders.send_at`; returns at once when off.

    Args:
        state: gives the serving state to decide from (e.g. the worker's current one);
            default: each run loads its own (`serving.loader.load_state`, seconds).
        clock, sleep: time and waiting, injectable for tests.
    """
    at = settings.reminders.send_time
    if at is None:
        logger.info("Reminder schedule off (DUECAST_REMINDERS_SEND_AT is empty)")
        return
    if not settings.reminders.smtp.configured:
        logger.warning(
            "Reminder schedule off: DUECAST_REMINDERS_SEND_AT is set but DUECAST_SMTP_HOST "
            "or DUECAST_SMTP_FROM is not"
        )
        return
    while True:
        now = clock()
        due = next_run(now, at)
        logger.info("Next reminder run at %s", due.isoformat())
        await sleep((due - now).total_seconds())
        await _run_once(settings, state)


async def _run_once(settings: Settings, state: Callable[[], ServingState] | None) -> None:
    def job() -> RunReport:
        return send_reminders(settings, state=state() if state is not None else None)

    try:
        # A thread: a run loads the store and waits on the mail server for seconds.
        report = await asyncio.to_thread(job)
    except asyncio.CancelledError:
        raise
    except Exception:  # any failure is logged; tomorrow's run tries again
        logger.exception("Scheduled reminder run failed")
        return
    for outcome in report.failed:
        logger.error(
            "Reminder to %s (%s) failed for good: %s",
            outcome.customer_id,
            outcome.recipient,
            outcome.error,
        )
