"""`duecast import` writes the change log, so running servers reload what it changed."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.importing import import_directory
from features.store import get_engine
from kernel.errors import DataImportError, StoreError
from serving.app import create_app
from tests.features.test_import import file_hash, make_ledger, run, write_ledger
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for

CUSTOMER = "C00007"


def _logged(url: str) -> list[tuple[str | None, str]]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT customer_id, kind FROM change_log ORDER BY seq"))
        return [(r.customer_id, r.kind) for r in rows]


# ------------------------------------------------------------------ the importer


def test_a_reexport_logs_exactly_the_customers_it_changed(db_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=21, customers=12, invoices=40)
    first = run(db_url, write_ledger(frames, tmp_path / "first"))
    cust_ids = set(frames["customers"]["customer_id"])
    assert sorted(c for c, _ in _logged(db_url)) == sorted(cust_ids)  # each customer once
    assert first.customers_changed == len(cust_ids)

    same = run(db_url, write_ledger(frames, tmp_path / "same"))
    assert same.customers_changed == 0
    assert len(_logged(db_url)) == len(cust_ids)  # nothing changed, nothing logged

    # Six changes, each to a customer no other change touches, so each one is checked.
    changed = {k: v.copy() for k, v in frames.items()}
    cust, inv, adj = changed["customers"], changed["invoices"], changed["adjustments"]
    owner = frames["invoices"].set_index("invoice_id")["customer_id"]
    paid = set(frames["payments"]["invoice_id"])
    unpaid = [i for i in inv.index[:-2] if inv.loc[i, "invoice_id"] not in paid]  # no adj/act
    taken: list[str] = []

    def pick(candidates: list[int], customer_of: Callable[[int], str]) -> int:
        found = next(k for k in candidates if customer_of(k) not in taken)
        taken.append(customer_of(found))
        return found

    pick([4], lambda k: cust.loc[k, "customer_id"])
    cust.loc[4, "credit_limit"] += 500.0  # an attribute
    disputed = pick(
        list(inv.index[inv["disputed"] == "false"]), lambda k: inv.loc[k, "customer_id"]
    )
    inv.loc[disputed, ["disputed", "dispute_date"]] = ["true", "2024-12-01"]
    adjusted = pick(list(adj.index), lambda k: owner[adj.loc[k, "invoice_id"]])
    adj.loc[adjusted, "amount"] = 99.0  # an adjustment: its customer is the invoice's
    new_payment = pick(unpaid, lambda k: inv.loc[k, "customer_id"])
    changed["payments"] = pd.concat(
        [
            changed["payments"],
            pd.DataFrame(
                [
                    {
                        "payment_id": "PAY-NEW",
                        "invoice_id": inv.loc[new_payment, "invoice_id"],
                        "customer_id": "",  # filled from the invoice
                        "payment_date": "2024-12-15",
                        "amount": 10.0,
                    }
                ]
            ),
        ]
    )
    moved = pick(unpaid, lambda k: inv.loc[k, "customer_id"])  # old and new owner change
    new_owner = next(c for c in sorted(cust_ids) if c not in taken)
    taken.append(new_owner)
    inv.loc[moved, "customer_id"] = new_owner
    expected = set(taken)
    assert len(expected) == 6 < len(cust_ids)  # touched and untouched customers

    summary = run(db_url, write_ledger(changed, tmp_path / "changed"))

    new_rows = _logged(db_url)[len(cust_ids) :]
    assert sorted(c for c, _ in new_rows) == sorted(expected)
    assert {k for _, k in new_rows} == {"import"}
    assert summary.customers_changed == len(expected)


def test_a_large_import_logs_one_row_for_every_customer(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("features.importing.FULL_REBUILD_CUSTOMERS", 3)
    frames = make_ledger(seed=22, customers=6)

    summary = run(sqlite_url, write_ledger(frames, tmp_path / "in"))

    assert _logged(sqlite_url) == [(None, "import")]
    assert summary.customers_changed == 6


def test_a_failed_import_logs_nothing(sqlite_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=23)
    run(sqlite_url, write_ledger(frames, tmp_path / "first"))
    logged = _logged(sqlite_url)

    bad = make_ledger(seed=23, invoices=40)  # 10 new invoices, one of them bad
    bad["invoices"].loc[35, "due_date"] = "2023-01-01"
    with pytest.raises(DataImportError):
        run(sqlite_url, write_ledger(bad, tmp_path / "bad"))
    assert _logged(sqlite_url) == logged

    # The change-log rows share the import's transaction: refusing them undoes the import.
    with get_engine(sqlite_url).begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TRIGGER no_log BEFORE INSERT ON change_log "
                "BEGIN SELECT RAISE(ABORT, 'change log is frozen'); END"
            )
        )
    before = file_hash(sqlite_url)
    with pytest.raises(StoreError, match="change log is frozen"):
        run(sqlite_url, write_ledger(make_ledger(seed=23, invoices=40), tmp_path / "good"))
    assert file_hash(sqlite_url) == before


# ------------------------------------------------------------------ a running server


def _change_for(api_template: ApiTemplate, directory: Path) -> Path:
    """Files renaming CUSTOMER and adding it an overdue invoice of 12,345.67."""
    stored = api_template.ledger.customers.set_index("customer_id").loc[CUSTOMER]
    issue = AS_OF - dt.timedelta(days=10)
    frames = {
        "customers": pd.DataFrame(
            [
                {
                    "customer_id": CUSTOMER,
                    "name": "Renamed By Import GmbH",
                    "created_at": pd.Timestamp(stored["created_at"]).strftime("%Y-%m-%d"),
                }
            ]
        ),
        "invoices": pd.DataFrame(
            [
                {
                    "invoice_id": "INV-IMPORTED-1",
                    "customer_id": CUSTOMER,
                    "issue_date": issue.isoformat(),
                    "due_date": (issue + dt.timedelta(days=5)).isoformat(),
                    "amount": 12_345.67,
                }
            ]
        ),
        "payments": pd.DataFrame(
            columns=["payment_id", "invoice_id", "customer_id", "payment_date", "amount"]
        ),
    }
    return write_ledger(frames, directory)


def test_the_next_request_after_an_import_serves_the_imported_rows(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path)
    keys = {"X-API-Key": api_template.keys["scorer"]}
    with TestClient(create_app(settings)) as client:
        before = client.get(f"/v1/customers/{CUSTOMER}", headers=keys).json()
        assert before["name"] != "Renamed By Import GmbH"

        import_directory(get_engine(settings.database_url), _change_for(api_template, tmp_path))

        after = client.get(f"/v1/customers/{CUSTOMER}", headers=keys).json()
        assert after["name"] == "Renamed By Import GmbH"
        assert after["open_invoices"] == before["open_invoices"] + 1
        assert after["open_amount"] == pytest.approx(before["open_amount"] + 12_345.67)


def test_a_large_import_makes_the_server_rebuild_in_the_background(
    api_template: ApiTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("features.importing.FULL_REBUILD_CUSTOMERS", 0)
    settings = settings_for(api_template, tmp_path)
    keys = {"X-API-Key": api_template.keys["scorer"]}
    with TestClient(create_app(settings)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        first = runtime.state
        import_directory(get_engine(settings.database_url), _change_for(api_template, tmp_path))
        assert _logged(settings.database_url)[-1] == (None, "import")

        assert client.get(f"/v1/customers/{CUSTOMER}", headers=keys).status_code == 200
        for _ in range(200):
            if runtime.state is not first:
                break
            client.get("/healthz")  # lets the event loop run the rebuild
            time.sleep(0.05)
        assert runtime.state is not first  # a new state, built from the whole store
        view = client.get(f"/v1/customers/{CUSTOMER}", headers=keys).json()
        assert view["name"] == "Renamed By Import GmbH"
