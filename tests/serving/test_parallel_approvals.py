"""Approvals of one customer at the same moment cannot both pass a limit only one fits.

Each approval is confirmed in one transaction that locks the customer
(`serving.approvals.reserve`), so the second sees the first's reservation. Proved on
PostgreSQL (row lock) and SQLite (its writer lock): with the write function called from
many threads at once, and through two apps on one store, i.e. two workers whose memories
know nothing of each other's approvals.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.importing import import_directory
from features.store import TABLE_OBJECTS, ensure_schema, get_engine
from serving import approvals_sqlite
from serving.app import create_app
from serving.approvals import StoreBusy, reserve
from serving.auth import create_api_key
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for

CUSTOMER = "C-PAR"
THREADS = 8


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(k: int) -> None:
        barrier.wait()
        try:
            results[k] = calls[k]()
        except Exception as exc:  # reported by the assertions
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _store_with_customer(url: str) -> sa.Engine:
    engine = get_engine(url)
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            TABLE_OBJECTS["customers"]
            .insert()
            .values(customer_id=CUSTOMER, name="Parallel AG", created_at=dt.date(2025, 1, 1))
        )
    return engine


def test_reservations_made_at_once_never_exceed_the_limit(db_url: str) -> None:
    engine = _store_with_customer(db_url)
    limit, amount = 2_500.0, 1_000.0  # two fit, the third does not

    def approve_one() -> bool:
        done = reserve(
            engine,
            customer_id=CUSTOMER,
            amount=amount,
            decided_on=AS_OF,
            days=14,
            approve=lambda others: sum(r.amount for r in others) + amount <= limit,
        )
        return done.reservation is not None

    outcomes = _at_once([approve_one] * THREADS)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert sum(outcomes) == 2
    with engine.connect() as conn:
        total = conn.execute(sa.text("SELECT sum(amount) FROM order_reservations")).scalar()
    assert total == 2_000.0


def test_two_workers_approve_one_of_two_orders_that_fit_once(
    db_url: str, api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path)
    keys = api_template.keys
    if not db_url.startswith("sqlite"):
        engine = get_engine(db_url)
        import_directory(engine, api_template.db_file.parent / "data")
        keys = {"admin": create_api_key(engine, role="admin", name="parallel admin")[1]}
        settings = settings.model_copy(update={"database_url": db_url})
    headers = {"X-API-Key": keys["admin"]}
    with (
        TestClient(create_app(settings)) as one,
        TestClient(create_app(settings)) as two,
    ):
        cid, exposure, amount = _customer_fit_once(one, headers)
        response = one.put(
            f"/v1/customers/{cid}/credit-limit",
            json={"limit": exposure + 1.5 * amount, "reason": "fits one order only"},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        two.get(f"/v1/customers/{cid}", headers=headers)  # the second worker applies it

        def order(client: TestClient, k: int) -> Callable[[], Any]:
            body = {"customer_id": cid, "amount": amount, "order_id": f"SO-{k}"}
            return lambda: client.post("/v1/orders/decision", json=body, headers=headers)

        calls = [order(one if k % 2 else two, k) for k in range(4)]
        responses = _at_once(calls)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    decisions = sorted(r.json()["decision"] for r in responses)
    assert decisions.count("approve") == 1, decisions
    with get_engine(settings.database_url).connect() as conn:
        reserved = conn.execute(
            sa.text("SELECT count(*) FROM order_reservations WHERE customer_id = :c"), {"c": cid}
        ).scalar()
    assert reserved == 1


def _customer_fit_once(client: TestClient, headers: dict[str, str]) -> tuple[str, float, float]:
    """A customer an order of its usual amount is approved for: (id, exposure, amount)."""
    ids = sorted(client.app.state.runtime.state.entries)  # type: ignore[attr-defined]
    for cid in ids:
        body = client.get(f"/v1/customers/{cid}", headers=headers).json()
        if body["risk_grade"] in "ABC" and body["overdue_amount"] == 0:
            return cid, body["exposure"]["total"], round(body["typical_invoice_amount"])
    # The template is seeded: without such a customer the test could prove nothing.
    raise AssertionError("no customer graded A-C without overdue invoices in the template")


def _approve_from_process(url: str, amount: float, limit: float, start: Any) -> int:
    """One worker process: wait for the start signal, then try 10 approvals."""

    def approve(others: tuple[Any, ...]) -> bool:
        time.sleep(0.005)  # a slow decision: the other workers try meanwhile
        return sum(r.amount for r in others) + amount <= limit

    engine = get_engine(url)
    start.wait()
    made = 0
    for _ in range(10):
        done = reserve(
            engine,
            customer_id=CUSTOMER,
            amount=amount,
            decided_on=AS_OF,
            days=14,
            approve=approve,
        )
        made += done.reservation is not None
    return made


def test_worker_processes_on_one_sqlite_file_never_exceed_the_limit(sqlite_url: str) -> None:
    # Threads of one process share its lock; separate processes share only the file.
    import multiprocessing

    engine = _store_with_customer(sqlite_url)
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    with context.Pool(3) as pool:
        waiting = [
            pool.apply_async(_approve_from_process, (sqlite_url, 100.0, 1_250.0, start))
            for _ in range(3)
        ]
        start.set()
        made = [w.get(timeout=120) for w in waiting]
    assert sum(made) == 12  # 12 x 100 fit in 1,250; the other 18 attempts are refused
    with engine.connect() as conn:
        total = conn.execute(sa.text("SELECT sum(amount) FROM order_reservations")).scalar()
    assert total == 1_200.0


def _reserve_now(engine: sa.Engine, amount: float = 100.0) -> Any:
    return reserve(
        engine,
        customer_id=CUSTOMER,
        amount=amount,
        decided_on=AS_OF,
        days=14,
        approve=lambda others: True,
        wait=False,
    )


def test_a_write_that_would_wait_is_refused_without_waiting(sqlite_url: str) -> None:
    # On the event loop an approval is written only if the store's lock is free at once.
    engine = _store_with_customer(sqlite_url)
    database = engine.url.database
    assert database is not None
    assert _reserve_now(engine).reservation is not None  # the lock was free
    other = sqlite3.connect(database, isolation_level=None)  # another writer
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(StoreBusy):
        _reserve_now(engine)
    assert time.monotonic() - started < 1.0  # not the 5 s busy timeout
    other.execute("ROLLBACK")
    fd = os.open(f"{database}.approvals.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another worker confirming an approval
    with pytest.raises(StoreBusy):
        _reserve_now(engine)
    os.close(fd)
    assert _reserve_now(engine).reservation is not None
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM order_reservations")).scalar()
    assert count == 2  # the refused attempts wrote nothing


def test_a_postgres_store_is_never_written_from_the_event_loop(postgres_url: str) -> None:
    engine = _store_with_customer(postgres_url)
    with pytest.raises(StoreBusy):
        _reserve_now(engine)


def test_an_approval_waits_in_a_thread_while_another_writer_holds_the_store(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path)
    headers = {"X-API-Key": api_template.keys["scorer"]}
    with TestClient(create_app(settings)) as client:
        database = settings.database_url.removeprefix("sqlite:///")
        other = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.5, other.execute, args=("ROLLBACK",)).start()
        started = time.monotonic()
        answer = client.post(
            "/v1/orders/decision", headers=headers, json={"customer_id": "C00001", "amount": 1.0}
        )
        waited = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"] == "approve" and answer.json()["reservation"]
        assert waited >= 0.4  # it waited for the other writer, then wrote


def test_a_store_locked_past_the_busy_timeout_answers_503(
    api_template: ApiTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(approvals_sqlite, "_BUSY_TIMEOUT_MS", 200)
    settings = settings_for(api_template, tmp_path)
    headers = {"X-API-Key": api_template.keys["scorer"]}
    with TestClient(create_app(settings)) as client:
        other = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
        other.isolation_level = None
        other.execute("BEGIN IMMEDIATE")
        answer = client.post(
            "/v1/orders/decision", headers=headers, json={"customer_id": "C00001", "amount": 1.0}
        )
        other.execute("ROLLBACK")
    assert answer.status_code == 503, answer.text
    assert "cannot confirm the approval" in answer.json()["detail"]
