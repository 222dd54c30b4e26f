"""One customer's bad rows never stop serving the others.

Rows a door should have refused (an action dated 3000, a payment dated 1500) are
written with raw SQL, as an older version, a hand edit or a script would. That customer
answers 503 with the reason, every other customer is served, the worklist leaves it
out, /readyz says "degraded" with the count, the log names the row, and a restart
still starts.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.ledger import load_ledger, read_ledger
from features.store import ensure_schema, get_engine
from kernel.config import Settings
from kernel.errors import StoreError
from serving.app import create_app
from tests.utils.api_support import ApiTemplate, settings_for

BAD_ACTION = "A-FROM-THE-YEAR-3000"
BAD_PAYMENT = "P-FROM-THE-YEAR-1500"


def _keys(api_template: ApiTemplate) -> dict[str, str]:
    return {"X-API-Key": api_template.keys["admin"]}


def _worklist_ids(client: TestClient, keys: dict[str, str]) -> list[str]:
    response = client.get(
        "/v1/worklist", params={"limit": 1000, "include_waiting": True}, headers=keys
    )
    assert response.status_code == 200, response.text
    return [item["customer_id"] for item in response.json()["data"]]


def _db_file(settings: Settings) -> str:
    return settings.database_url.removeprefix("sqlite:///")


def _insert_bad_rows(settings: Settings, customer: str, invoice: str, *, log: bool) -> None:
    """An action in the year 3000 and a payment in 1500, past every door (raw SQL)."""
    with sqlite3.connect(_db_file(settings)) as db:
        db.execute(
            "INSERT INTO actions (action_id, customer_id, at, kind, text) "
            "VALUES (?, ?, '3000-01-01 00:00:00.000000', 'note', 'far future')",
            (BAD_ACTION, customer),
        )
        db.execute(
            "INSERT INTO payments (payment_id, invoice_id, customer_id, payment_date, amount) "
            "VALUES (?, ?, ?, '1500-01-01', 1.0)",
            (BAD_PAYMENT, invoice, customer),
        )
        if log:  # what a write through the API or an import appends
            db.execute(
                "INSERT INTO change_log (customer_id, kind, at) VALUES (?, 'action', ?)",
                (customer, dt.datetime.now(dt.UTC).isoformat(sep=" ")),
            )


@pytest.fixture
def picked(api_template: ApiTemplate, tmp_path: Path) -> Iterator[tuple[Settings, dict]]:
    """A store copy, and two customers on the worklist with an open invoice each."""
    settings = settings_for(api_template, tmp_path)
    with TestClient(create_app(settings)) as client:
        ids = _worklist_ids(client, _keys(api_template))
        entries = client.app.state.runtime.state.entries  # type: ignore[attr-defined]
        bad, good = [cid for cid in ids if entries[cid].invoices][:2]
        yield (
            settings,
            {
                "bad": bad,
                "good": good,
                "bad_invoice": entries[bad].invoices[0].invoice_id,
                "good_invoice": entries[good].invoices[0].invoice_id,
                "served": len(entries),
            },
        )


def _assert_isolated(client: TestClient, keys: dict[str, str], p: dict) -> None:
    bad, good = p["bad"], p["good"]
    customer = client.get(f"/v1/customers/{bad}", headers=keys)
    assert customer.status_code == 503
    body = customer.json()
    assert body["error"] == "CustomerUnavailableError"
    assert bad in body["detail"]
    assert BAD_ACTION in body["detail"] and BAD_PAYMENT in body["detail"]
    assert client.get(f"/v1/customers/{good}", headers=keys).status_code == 200
    for cid, status in ((bad, 503), (good, 200)):
        order = client.post(
            "/v1/orders/decision", json={"customer_id": cid, "amount": 500.0}, headers=keys
        )
        assert order.status_code == status, order.text
        # Another day than the cached one reads the store again: same answer.
        other_day = {"customer_id": cid, "amount": 500.0, "order_date": "2026-02-20"}
        order = client.post("/v1/orders/decision", json=other_day, headers=keys)
        assert order.status_code == status, order.text
    for invoice, status in ((p["bad_invoice"], 503), (p["good_invoice"], 200)):
        scored = client.post("/v1/invoices/score", json={"invoice_ids": [invoice]}, headers=keys)
        assert scored.status_code == status, scored.text
    ids = _worklist_ids(client, keys)
    assert bad not in ids and good in ids
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["customers_not_served"] == 1
    assert bad not in ready.json()["detail"]  # /readyz has no key: counts, never names


def test_bad_rows_at_start_fail_their_customer_only(
    api_template: ApiTemplate, picked: tuple[Settings, dict], caplog: pytest.LogCaptureFixture
) -> None:
    settings, p = picked
    _insert_bad_rows(settings, p["bad"], p["bad_invoice"], log=False)
    keys = _keys(api_template)
    caplog.set_level(logging.ERROR, logger="serving.state")
    # A restart with the rows in the store: starts, serves everyone else.
    with TestClient(create_app(settings)) as client:
        _assert_isolated(client, keys, p)
        assert len(client.app.state.runtime.state.entries) == p["served"] - 1  # type: ignore[attr-defined]
        metrics = client.get("/metrics").text
        assert "duecast_customers_not_served 1.0" in metrics
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert p["bad"] in logged and BAD_ACTION in logged and BAD_PAYMENT in logged
    assert "3000-01-01" in logged and "1500-01-01" in logged


def test_bad_rows_arriving_while_serving_fail_their_customer_until_fixed(
    api_template: ApiTemplate, picked: tuple[Settings, dict]
) -> None:
    settings, p = picked
    keys = _keys(api_template)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        _insert_bad_rows(settings, p["bad"], p["bad_invoice"], log=True)
        _assert_isolated(client, keys, p)
        # Fixed by hand, announced in the change log: served again.
        with sqlite3.connect(_db_file(settings)) as db:
            db.execute("DELETE FROM actions WHERE action_id = ?", (BAD_ACTION,))
            db.execute("DELETE FROM payments WHERE payment_id = ?", (BAD_PAYMENT,))
            db.execute(
                "INSERT INTO change_log (customer_id, kind, at) VALUES (?, 'action', ?)",
                (p["bad"], dt.datetime.now(dt.UTC).isoformat(sep=" ")),
            )
        assert client.get(f"/v1/customers/{p['bad']}", headers=keys).status_code == 200
        assert p["bad"] in _worklist_ids(client, keys)
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["customers_not_served"] == 0


def test_an_exception_building_one_customer_fails_that_customer_only(
    api_template: ApiTemplate, picked: tuple[Settings, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    import serving.entries

    settings, p = picked
    real = serving.entries.worklist_item

    def faulty(customer_id: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if customer_id == p["bad"]:
            raise ZeroDivisionError("injected fault")
        return real(customer_id, *args, **kwargs)

    monkeypatch.setattr(serving.entries, "worklist_item", faulty)
    keys = _keys(api_template)
    with TestClient(create_app(settings)) as client:
        customer = client.get(f"/v1/customers/{p['bad']}", headers=keys)
        assert customer.status_code == 503
        assert "ZeroDivisionError: injected fault" in customer.json()["detail"]
        assert client.get(f"/v1/customers/{p['good']}", headers=keys).status_code == 200
        ids = _worklist_ids(client, keys)
        assert p["bad"] not in ids and p["good"] in ids
        assert len(client.app.state.runtime.state.entries) == p["served"] - 1  # type: ignore[attr-defined]
        assert client.get("/readyz").json()["customers_not_served"] == 1


def test_a_fault_in_every_customer_is_not_isolated_one_by_one(
    api_template: ApiTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault everywhere (not one customer's rows) stops the search: not ready, says why."""
    import serving.entries

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("injected fault")

    monkeypatch.setattr(serving.entries, "worklist_item", broken)
    with TestClient(create_app(settings_for(api_template, tmp_path))) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "more than 20 customers" in ready.json()["detail"]


# ---------------------------------------------------------------- reading the store


def test_read_ledger_leaves_out_the_customers_of_unreadable_rows(db_url: str) -> None:
    engine = get_engine(db_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        for cid in ("C1", "C2"):
            conn.execute(
                sa.text(
                    "INSERT INTO customers (customer_id, name, created_at) "
                    "VALUES (:c, :c, '2024-01-01')"
                ),
                {"c": cid},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO invoices (invoice_id, customer_id, issue_date, due_date, "
                    "amount, disputed) VALUES (:i, :c, '2024-01-01', '2024-02-01', 100, false)"
                ),
                {"i": f"I-{cid}", "c": cid},
            )
        conn.execute(
            sa.text(
                "INSERT INTO payments (payment_id, invoice_id, customer_id, payment_date, "
                "amount) VALUES ('P1', 'I-C1', 'C1', '1500-01-01', 100)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO actions (action_id, customer_id, at, kind) "
                "VALUES ('A1', 'C1', '3000-01-01 00:00:00+00:00', 'note')"
            )
        )
    ledger, bad = read_ledger(engine)
    assert sorted((r.table, r.row_id, r.customer_id, r.column) for r in bad) == [
        ("actions", "A1", "C1", "at"),
        ("payments", "P1", "C1", "payment_date"),
    ]
    assert ledger.customers["customer_id"].tolist() == ["C2"]
    assert ledger.invoices["invoice_id"].tolist() == ["I-C2"]
    assert ledger.payments.empty and ledger.actions.empty
    assert read_ledger(engine, customer_ids=["C2"])[1] == []
    # The strict read (training, exports) refuses, naming the rows.
    with pytest.raises(StoreError, match=r"payments row 'P1' of customer 'C1'"):
        load_ledger(engine)
