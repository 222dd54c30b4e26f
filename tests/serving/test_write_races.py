"""Simultaneous duplicate writes stay exactly-once: 0 errors, 0 lost, 0 doubled.

Each test fires pairs of the same write at the same moment (two threads released by a
barrier; 50 pairs per write, 20 through the app): an invoice event, a payment event,
an action with one Idempotency-Key. One of each pair creates the row, the other
answers "unchanged" (a replay for actions); the tables and the change log hold each
write exactly once. On SQLite and PostgreSQL, calling the write functions directly and
through the app.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.changes import changes_since, log_change
from features.importing import import_directory
from features.store import TABLE_OBJECTS, ensure_schema, get_engine
from kernel.config import Settings
from serving.app import create_app
from serving.auth import create_api_key
from serving.schemas import ActionRequest, InvoiceEventRequest, PaymentEventRequest
from serving.usecases.present import action_out
from serving.writes import record_action, record_invoice, record_payment
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for

PAIRS = 50
APP_PAIRS = 20  # per write through the app, where each write also reloads the customer
CUSTOMER = "C-RACE"
BASE_INVOICE = "INV-BASE"
ISSUED = dt.date(2026, 1, 5)


def _pair(call: Callable[[int, int], Any], i: int) -> list[Any]:
    """`call(i, slot)` from two threads released at once; their results or exceptions."""
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(slot: int) -> None:
        barrier.wait()
        try:
            results[slot] = call(i, slot)
        except Exception as exc:  # reported by the assertions, not lost in the thread
            results[slot] = exc

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _twice(call: Callable[[int], Any], pairs: int = PAIRS) -> list[list[Any]]:
    """Each of `pairs` writes sent twice at the same moment."""
    return [_pair(lambda i, _slot: call(i), i) for i in range(pairs)]


def _errors(outcomes: list[list[Any]]) -> list[str]:
    return [repr(r) for pair in outcomes for r in pair if isinstance(r, BaseException)]


def _count(engine: sa.Engine, table: str, where: str = "", **params: Any) -> int:
    with engine.connect() as conn:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(conn.execute(sa.text(sql), params).scalar() or 0)


def _changes(engine: sa.Engine, kind: str) -> int:
    return _count(engine, "change_log", "kind = :kind", kind=kind)


@pytest.fixture
def store(db_url: str) -> sa.Engine:
    """A store with one customer and one invoice (the parent of the payment events)."""
    engine = get_engine(db_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            TABLE_OBJECTS["customers"]
            .insert()
            .values(customer_id=CUSTOMER, name="Race Ltd", created_at=dt.date(2025, 1, 1))
        )
        conn.execute(
            TABLE_OBJECTS["invoices"]
            .insert()
            .values(
                invoice_id=BASE_INVOICE,
                customer_id=CUSTOMER,
                issue_date=ISSUED,
                due_date=ISSUED + dt.timedelta(days=30),
                amount=10_000.0,
            )
        )
    return engine


def _invoice(i: int) -> dict[str, Any]:
    return InvoiceEventRequest(
        invoice_id=f"INV-RACE-{i}",
        customer_id=CUSTOMER,
        issue_date=ISSUED,
        due_date=ISSUED + dt.timedelta(days=30),
        amount=100.0 + i,
        currency="EUR",
    ).model_dump()


def _payment(i: int) -> dict[str, Any]:
    return PaymentEventRequest(
        payment_id=f"PAY-RACE-{i}",
        invoice_id=BASE_INVOICE,
        payment_date=ISSUED + dt.timedelta(days=10),
        amount=10.0 + i,
    ).model_dump()


def _action(i: int) -> ActionRequest:
    return ActionRequest(
        customer_id=CUSTOMER,
        invoice_id=BASE_INVOICE,
        kind="call",
        at=dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC),
        text=f"called about the invoice, attempt {i}",
    )


def _statuses(outcomes: list[list[Any]]) -> list[list[str]]:
    return [sorted(r.status for r in pair) for pair in outcomes]


def test_duplicate_invoice_events_at_once_store_one_invoice(store: sa.Engine) -> None:
    outcomes = _twice(lambda i: record_invoice(store, _invoice(i)))
    assert _errors(outcomes) == []
    assert _statuses(outcomes) == [["created", "unchanged"]] * PAIRS
    assert _count(store, "invoices", "invoice_id LIKE 'INV-RACE-%'") == PAIRS
    assert _changes(store, "invoices") == PAIRS


def test_duplicate_payment_events_at_once_store_one_payment(store: sa.Engine) -> None:
    outcomes = _twice(lambda i: record_payment(store, _payment(i)))
    assert _errors(outcomes) == []
    assert _statuses(outcomes) == [["created", "unchanged"]] * PAIRS
    assert _count(store, "payments") == PAIRS
    assert _changes(store, "payments") == PAIRS


def test_duplicate_actions_with_one_key_at_once_store_one_action(store: sa.Engine) -> None:
    def call(i: int) -> tuple[dict[str, Any], bool]:
        body = _action(i)
        return record_action(
            store,
            body.model_dump(),
            request_body=body.model_dump(mode="json"),
            idempotency_key=f"key-{i}",
            scope="actions:race",
            render=lambda values: action_out(values).model_dump(mode="json"),
        )

    outcomes = _twice(call)
    assert _errors(outcomes) == []
    assert [sorted(created for _, created in pair) for pair in outcomes] == [[False, True]] * PAIRS
    assert all(pair[0][0] == pair[1][0] for pair in outcomes)  # the replay answers the same
    assert _count(store, "actions") == PAIRS
    assert _count(store, "idempotency_keys") == PAIRS
    assert _changes(store, "action") == PAIRS


def test_changed_duplicates_at_once_never_fail_and_keep_one_row(store: sa.Engine) -> None:
    """Two versions of one event at once: one creates, the other updates or leaves it."""

    def call(i: int, slot: int) -> Any:
        payment = _payment(i)
        payment["amount"] += slot
        return record_payment(store, payment)

    outcomes = [_pair(call, i) for i in range(20)]
    assert _errors(outcomes) == []
    for pair in outcomes:
        assert sorted(r.status for r in pair) in (["created", "updated"], ["created", "unchanged"])
    assert _count(store, "payments") == 20


# ---------------------------------------------------------------- through the app


@pytest.fixture
def app_settings(
    db_url: str, api_template: ApiTemplate, tmp_path: Path
) -> Iterator[tuple[Settings, dict[str, str]]]:
    """Settings and keys of an app on the API template's store, in SQLite or PostgreSQL."""
    settings = settings_for(api_template, tmp_path)
    if db_url.startswith("sqlite"):
        yield settings, api_template.keys
        return
    engine = get_engine(db_url)
    import_directory(engine, api_template.db_file.parent / "data")
    keys = {r: create_api_key(engine, role=r, name=f"race {r}")[1] for r in ("admin", "collector")}
    yield settings.model_copy(update={"database_url": db_url}), keys


def test_duplicates_through_the_app_answer_no_5xx_and_store_once(
    app_settings: tuple[Settings, dict[str, str]],
) -> None:
    settings, keys = app_settings
    admin = {"X-API-Key": keys["admin"]}
    collector = {"X-API-Key": keys["collector"]}
    engine = get_engine(settings.database_url)
    with engine.connect() as conn:
        invoice_id, customer_id = conn.execute(
            sa.text("SELECT invoice_id, customer_id FROM invoices ORDER BY invoice_id LIMIT 1")
        ).one()
    payments_before = _count(engine, "payments")
    actions_before = _count(engine, "actions")
    day = AS_OF - dt.timedelta(days=3)
    with TestClient(create_app(settings)) as client:

        def invoice(i: int) -> Any:
            body = {
                "invoice_id": f"INV-APP-RACE-{i}",
                "customer_id": customer_id,
                "issue_date": day.isoformat(),
                "due_date": (day + dt.timedelta(days=30)).isoformat(),
                "amount": 500.0 + i,
            }
            return client.post("/v1/events/invoices", json=body, headers=admin)

        def payment(i: int) -> Any:
            body = {
                "payment_id": f"PAY-APP-RACE-{i}",
                "invoice_id": f"INV-APP-RACE-{i}",
                "payment_date": day.isoformat(),
                "amount": 1.0 + i,
            }
            return client.post("/v1/events/payments", json=body, headers=admin)

        def action(i: int) -> Any:
            body = {"customer_id": customer_id, "invoice_id": invoice_id, "kind": "note"}
            body["text"] = f"race {i}"
            headers = {**collector, "Idempotency-Key": f"app-race-{i}"}
            return client.post("/v1/actions", json=body, headers=headers)

        for call, kind in ((invoice, "invoices"), (payment, "payments"), (action, "action")):
            before = _changes(engine, kind)
            outcomes = _twice(call, APP_PAIRS)
            assert _errors(outcomes) == []
            codes = [sorted(r.status_code for r in pair) for pair in outcomes]
            assert codes == [[200, 201]] * APP_PAIRS, [r.text for pair in outcomes for r in pair]
            assert _changes(engine, kind) - before == APP_PAIRS
    assert _count(engine, "invoices", "invoice_id LIKE 'INV-APP-RACE-%'") == APP_PAIRS
    assert _count(engine, "payments") - payments_before == APP_PAIRS
    assert _count(engine, "actions") - actions_before == APP_PAIRS


# ---------------------------------------------------------------- the change log


def test_change_log_rows_become_visible_in_sequence_order(store: sa.Engine) -> None:
    """A worker that has read change N never misses a lower one committed after it.

    Workers keep the highest sequence number they have applied; were a later writer's
    row visible while an earlier writer's lower number is still uncommitted, that
    earlier change would be skipped for good.
    """
    later_done = threading.Event()
    failures: list[BaseException] = []

    def later_writer() -> None:
        try:
            with store.begin() as conn:
                log_change(conn, customer_id=CUSTOMER, kind="payments")
        except BaseException as exc:  # reported below
            failures.append(exc)
        later_done.set()

    with store.connect() as first:
        transaction = first.begin()
        low = log_change(first, customer_id=CUSTOMER, kind="invoices")
        thread = threading.Thread(target=later_writer)
        thread.start()
        # Without ordering, the later writer commits right away; give it the chance.
        later_done.wait(timeout=1.0)
        with store.connect() as reader:
            seen_while_open = [c.seq for c in changes_since(reader, 0)]
        transaction.commit()
    thread.join(timeout=30)
    assert failures == []
    assert seen_while_open == []  # the later row waited for the earlier one
    with store.connect() as reader:
        seqs = [c.seq for c in changes_since(reader, 0)]
    assert seqs[0] == low and len(seqs) == 2 and seqs[1] > low
