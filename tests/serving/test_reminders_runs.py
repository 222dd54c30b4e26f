"""Reminder runs side by side (no double send, on SQLite and PostgreSQL), the daily
schedule, and `duecast remind` on the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from duecast.cli import app
from features.importing import import_directory
from features.store import TABLE_OBJECTS, get_engine, reminder_sends
from kernel.config import Settings, get_settings
from serving.loader import load_state
from serving.reminders import RunReport, run_reminder_schedule, send_reminders
from serving.reminders.schedule import next_run
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from tests.utils.reminder_support import SENDER, MailServer, mail_server, prepare_store, with_smtp

runner = CliRunner()


@pytest.fixture
def server() -> Iterator[MailServer]:
    with mail_server() as running:
        yield running


def _barrier_clock(barrier: threading.Barrier) -> Callable[[], dt.datetime]:
    """A UTC clock that holds each thread at its third reading (its first claim) until
    the other thread has planned too, so both runs plan the same mails before claiming."""
    local = threading.local()

    def clock() -> dt.datetime:
        local.calls = getattr(local, "calls", 0) + 1
        if local.calls == 3:
            barrier.wait()
        return dt.datetime.now(dt.UTC)

    return clock


def _two_runs_at_once(settings: Settings, engine: sa.Engine) -> list[RunReport]:
    state = load_state(settings, engine=engine)
    barrier = threading.Barrier(2, timeout=60)
    clock = _barrier_clock(barrier)
    reports: list[RunReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(send_reminders(settings, engine=engine, state=state, clock=clock))
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return reports


def _assert_sent_once(reports: list[RunReport], server: MailServer, engine: sa.Engine) -> None:
    mailed = server.invoices_mailed()
    assert mailed and len(mailed) == len(set(mailed)), mailed  # no invoice mailed twice
    assert sum(r.count("sent") for r in reports) == len(server.received)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(reminder_sends.c.invoice_id, reminder_sends.c.status)).all()
    assert sorted(r.invoice_id for r in rows) == sorted(mailed)
    assert {r.status for r in rows} == {"sent"}


def test_two_runs_at_once_send_each_invoice_once(
    api_template: ApiTemplate, tmp_path: Path, server: MailServer
) -> None:
    settings = with_smtp(settings_for(api_template, tmp_path), server.port)
    engine = get_engine(settings.database_url)
    prepare_store(settings, engine)
    reports = _two_runs_at_once(settings, engine)
    _assert_sent_once(reports, server, engine)
    assert len(server.received) == 2


@pytest.mark.postgres
def test_two_runs_at_once_send_each_invoice_once_on_postgres(
    api_template: ApiTemplate, tmp_path: Path, server: MailServer, postgres_url: str
) -> None:
    base = settings_for(api_template, tmp_path)
    settings = with_smtp(base.model_copy(update={"database_url": postgres_url}), server.port)
    engine = get_engine(postgres_url)
    import_directory(engine, api_template.db_file.parent / "data")
    prepare_store(settings, engine)
    reports = _two_runs_at_once(settings, engine)
    _assert_sent_once(reports, server, engine)
    assert len(server.received) == 2


def test_next_run_is_the_next_time_of_day_in_utc() -> None:
    at = dt.time(8, 0, tzinfo=dt.UTC)
    morning = dt.datetime(2026, 3, 2, 7, 59, 30, tzinfo=dt.UTC)
    assert next_run(morning, at) == dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
    assert next_run(morning.replace(hour=8), at) == dt.datetime(2026, 3, 3, 8, tzinfo=dt.UTC)


def test_the_schedule_sends_at_the_set_time_and_is_off_when_unset(
    api_template: ApiTemplate, tmp_path: Path, server: MailServer
) -> None:
    base = settings_for(api_template, tmp_path)
    prepare_store(base, get_engine(base.database_url))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        if len(waits) == 2:
            raise asyncio.CancelledError  # stop the loop after its first run
        waits.append(seconds)

    def clock() -> dt.datetime:
        return dt.datetime(2026, 3, 2, 7, 59, 30, tzinfo=dt.UTC)

    off = with_smtp(base, server.port)
    asyncio.run(run_reminder_schedule(off, clock=clock, sleep=sleep))
    assert waits == [] and not server.received
    on = with_smtp(base, server.port, send_at="08:00")
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run_reminder_schedule(on, clock=clock, sleep=sleep))
    assert waits == [30.0, 30.0] and len(server.received) == 2


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, port: int, models: Path) -> None:
    env = {
        "DUECAST_DATABASE_URL": settings.database_url,
        "DUECAST_MODELS_DIR": str(models),
        "DUECAST_SERVE_AS_OF": AS_OF.isoformat(),
        "DUECAST_SMTP_HOST": "127.0.0.1",
        "DUECAST_SMTP_PORT": str(port),
        "DUECAST_SMTP_FROM": SENDER,
        "DUECAST_REMINDERS_BACKOFF_SECONDS": "0.01",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


def test_cli_dry_run_then_send_exits_1_when_a_mail_fails_for_good(
    api_template: ApiTemplate, tmp_path: Path, server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(api_template, tmp_path)
    engine = get_engine(settings.database_url)
    p = prepare_store(settings, engine)
    _cli_env(monkeypatch, settings, server.port, api_template.models_dir)

    dry = runner.invoke(app, ["remind"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and p.grouped in dry.output and "no e-mail" in dry.output
    assert server.attempts == 0

    customers = TABLE_OBJECTS["customers"]
    with engine.connect() as conn:
        address = conn.execute(
            sa.select(customers.c.email).where(customers.c.customer_id == p.single)
        ).scalar_one()
    server.refuse.add(address)
    sent = runner.invoke(app, ["remind", "--send", "--as-of", AS_OF.isoformat()])
    assert sent.exit_code == 1, sent.output
    assert "1 sent, 0 retrying, 1 failed, 1 without an e-mail address" in sent.output
    assert "550" in sent.output and len(server.received) == 1

    again = runner.invoke(app, ["remind", "--send"])
    assert again.exit_code == 0, again.output
    assert "0 sent, 0 retrying, 0 failed" in again.output and len(server.received) == 1


def test_cli_send_without_a_mail_server_says_what_to_set(
    api_template: ApiTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(api_template, tmp_path)
    _cli_env(monkeypatch, settings, 25, api_template.models_dir)
    monkeypatch.delenv("DUECAST_SMTP_HOST")
    get_settings.cache_clear()
    result = runner.invoke(app, ["remind", "--send"])
    assert result.exit_code == 1
    assert "DUECAST_SMTP_HOST" in result.output and "Traceback" not in result.output
