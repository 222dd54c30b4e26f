"""Re-exports that take things back: voided invoices, removed settlements, derived customers.

Run on SQLite and on PostgreSQL (`db_url`) where they write.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.build import build_open_invoice_rows
from features.import_write import combined_rows, insert_only, plan_table
from features.ledger import load_ledger
from features.store import get_engine
from features.validate import TypedFrame
from serving.writes import record_action
from tests.features.test_import import dump, make_ledger, run, write_ledger

AS_OF = dt.date(2025, 3, 1)


def _logged_since(url: str, seq: int) -> set[str | None]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(
            sa.text("SELECT customer_id FROM change_log WHERE seq > :s"), {"s": seq}
        )
        return {r.customer_id for r in rows}


def _last_seq(url: str) -> int:
    with get_engine(url).connect() as conn:
        return int(
            conn.execute(sa.text("SELECT COALESCE(MAX(seq), 0) FROM change_log")).scalar() or 0
        )


def _open_amount(url: str, customer_id: str) -> float:
    rows = build_open_invoice_rows(load_ledger(get_engine(url)), as_of=AS_OF)
    return float(rows.loc[rows["customer_id"] == customer_id, "open_amount"].sum())


def test_a_voided_invoice_is_kept_but_counts_no_more_until_unvoided(
    db_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=41, customers=4, invoices=24)
    inv, pay = frames["invoices"], frames["payments"]
    inv["voided"] = "false"
    paid = set(pay["invoice_id"])
    unpaid = inv[~inv["invoice_id"].isin(paid)].iloc[0]
    paid_one = pay["invoice_id"].iloc[0]
    run(db_url, write_ledger(frames, tmp_path / "first"))
    open_before = _open_amount(db_url, unpaid["customer_id"])
    seq = _last_seq(db_url)

    inv.loc[inv["invoice_id"].isin([unpaid["invoice_id"], paid_one]), "voided"] = "true"
    summary = run(db_url, write_ledger(frames, tmp_path / "voided"))

    assert summary.tables["invoices"].updated == 2
    stored = dump(db_url)
    flags = stored["invoices"].set_index("invoice_id")["voided"].astype(bool)
    assert flags[unpaid["invoice_id"]] and flags[paid_one] and flags.sum() == 2
    assert paid_one in set(stored["payments"]["invoice_id"])  # its history is kept
    ledger = load_ledger(get_engine(db_url))
    assert not {unpaid["invoice_id"], paid_one} & set(ledger.invoices["invoice_id"])
    assert paid_one not in set(ledger.payments["invoice_id"])
    assert _open_amount(db_url, unpaid["customer_id"]) == pytest.approx(
        open_before - unpaid["amount"]
    )
    assert unpaid["customer_id"] in _logged_since(db_url, seq)

    inv["voided"] = "false"  # the next export no longer marks them void
    again = run(db_url, write_ledger(frames, tmp_path / "unvoided"))
    assert again.tables["invoices"].updated == 2
    assert _open_amount(db_url, unpaid["customer_id"]) == pytest.approx(open_before)
    assert {unpaid["invoice_id"], paid_one} <= set(
        load_ledger(get_engine(db_url)).invoices["invoice_id"]
    )


def test_a_file_without_the_void_column_leaves_the_flag_alone(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=42, customers=3, invoices=10)
    frames["invoices"]["voided"] = np.where(np.arange(10) == 0, "true", "false")
    run(sqlite_url, write_ledger(frames, tmp_path / "first"))
    frames["invoices"] = frames["invoices"].drop(columns=["voided"])
    summary = run(sqlite_url, write_ledger(frames, tmp_path / "second"))
    assert not summary.changed
    assert dump(sqlite_url)["invoices"]["voided"].astype(bool).sum() == 1


SETTLED_MAPPING = '[invoices]\nsettled_date = "settled"\n'


def _settled_export(folder: Path, frames: dict[str, pd.DataFrame], settled: list[str]) -> Path:
    """customers.csv, and invoices.csv with a settled column (no payments file)."""
    folder.mkdir(parents=True)
    frames["customers"].to_csv(folder / "customers.csv", index=False)
    frames["invoices"].assign(settled=settled).to_csv(folder / "invoices.csv", index=False)
    (folder / "mapping.toml").write_text(SETTLED_MAPPING, encoding="utf-8")
    return folder


def test_a_settlement_taken_back_deletes_its_derived_payment_only(
    db_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=43, customers=4, invoices=6)
    inv = frames["invoices"]
    settled = [""] * 6
    for i in (0, 1, 2):
        settled[i] = (pd.Timestamp(inv.loc[i, "issue_date"]) + pd.Timedelta(days=20)).strftime(
            "%Y-%m-%d"
        )
    folder = _settled_export(tmp_path / "first", frames, settled)
    first = run(db_url, folder, mapping=folder / "mapping.toml")
    assert first.tables["payments"].inserted == 3
    # A payment typed by a person (another door, another id) and an action logged by one.
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO payments (payment_id, invoice_id, customer_id, payment_date, amount)"
                " VALUES ('BANK-1', :i, :c, :d, 10.0)"
            ),
            {
                "i": inv.loc[0, "invoice_id"],
                "c": inv.loc[0, "customer_id"],
                "d": dt.date(2025, 1, 2),
            },
        )
    action = {
        "customer_id": inv.loc[0, "customer_id"],
        "invoice_id": inv.loc[0, "invoice_id"],
        "at": None,
        "kind": "call",
        "promised_date": None,
        "promised_amount": None,
        "author": "ana",
        "text": "called, will pay",
        "outcome": None,
    }
    record_action(engine, action, request_body=action, idempotency_key=None, scope="t", render=dict)
    people = dump(db_url)["actions"]
    seq = _last_seq(db_url)

    settled[0] = ""  # the export takes the first settlement back
    inv.loc[1, "amount"] = round(float(inv.loc[1, "amount"]) / 2, 2)  # and lowers the second
    folder = _settled_export(tmp_path / "second", frames, settled)
    dry = run(db_url, folder, mapping=folder / "mapping.toml", dry_run=True)
    second = run(db_url, folder, mapping=folder / "mapping.toml")

    assert dry.tables == second.tables
    payments = second.tables["payments"]
    assert (payments.deleted, payments.updated, payments.unchanged) == (1, 1, 1)
    stored = dump(db_url)["payments"].set_index("payment_id")
    assert "SETTLED-" + inv.loc[0, "invoice_id"] not in stored.index
    assert stored.loc["SETTLED-" + inv.loc[1, "invoice_id"], "amount"] == pytest.approx(
        inv.loc[1, "amount"]
    )
    assert "BANK-1" in stored.index  # not derived: never taken back
    pd.testing.assert_frame_equal(people, dump(db_url)["actions"])
    assert {inv.loc[0, "customer_id"], inv.loc[1, "customer_id"]} <= _logged_since(db_url, seq)


def test_customers_derived_from_invoices_never_update_stored_ones(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=44, customers=3, invoices=6)
    run(sqlite_url, write_ledger(frames, tmp_path / "first"))
    derived = frames["customers"].iloc[:2].copy()
    derived["name"] = derived["customer_id"]  # all a derived record knows
    extra = derived.iloc[:1].assign(customer_id="C999", name="C999")
    rows = pd.concat([derived, extra], ignore_index=True)
    typed = TypedFrame("customers", "invoices.csv", rows, {}, ["customer_id", "name"])
    with get_engine(sqlite_url).connect() as conn:
        plan = plan_table(conn, "customers", *combined_rows([typed], "customers"))
        assert len(plan.updates) == 2  # what a customers file would do
        kept = insert_only(plan)
    assert list(kept.inserts["customer_id"]) == ["C999"]
    assert kept.updates.empty and kept.replaced.empty and kept.unchanged == 2


V2_MAPPING = """
[customers]
from_invoices = true

[invoices]
customer_name = "Client"
paid_amount = "Paid"
last_payment_date = "Paid On"
void = { column = "Status", values = ["Void", "Cancelled"] }
"""


def _v2_export(folder: Path, rows: list[tuple[str, str, str, float, float, str, str]]) -> Path:
    """One invoices file (customers derived from it): id, customer, name, amount, paid, ..."""
    folder.mkdir(parents=True)
    lines = ["invoice_id,customer_id,Client,issue_date,due_date,amount,Paid,Paid On,Status"]
    for invoice, customer, name, amount, paid, paid_on, status in rows:
        lines.append(
            f"{invoice},{customer},{name},2024-03-01,2024-03-31,{amount},{paid},{paid_on},{status}"
        )
    (folder / "invoices.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "mapping.toml").write_text(V2_MAPPING, encoding="utf-8")
    return folder


def test_a_reexport_takes_back_payments_voids_and_never_renames_customers(
    db_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=45, customers=2, invoices=4)  # C000, C001 with real names
    run(db_url, write_ledger(frames, tmp_path / "ledger"))
    names = dump(db_url)["customers"].set_index("customer_id")["name"]
    first = _v2_export(
        tmp_path / "first",
        [
            ("A-1", "C000", "Acme", 500.0, 500.0, "2024-04-02", "Open"),
            ("A-2", "C001", "Bolt", 300.0, 300.0, "2024-04-03", "Open"),
            ("A-3", "C001", "Bolt", 200.0, 0.0, "", "Void"),
            ("A-4", "K9", "Kilo", 100.0, 0.0, "", "Open"),
        ],
    )
    summary = run(db_url, first, mapping=first / "mapping.toml")
    assert summary.tables["customers"].inserted == 1  # K9
    assert summary.tables["customers"].updated == 0
    stored = dump(db_url)
    assert (
        stored["customers"].set_index("customer_id")["name"].reindex(names.index) == names
    ).all()
    assert {"PAID-A-1", "PAID-A-2"} <= set(stored["payments"]["payment_id"])
    assert stored["invoices"].set_index("invoice_id")["voided"].astype(bool)["A-3"]
    assert "A-3" not in set(load_ledger(get_engine(db_url)).invoices["invoice_id"])

    second = _v2_export(
        tmp_path / "second",
        [
            ("A-1", "C000", "Acme", 500.0, 0.0, "", "Open"),  # the payment was reversed
            ("A-2", "C001", "Bolt", 300.0, 120.0, "2024-04-03", "Open"),  # paid less
            ("A-3", "C001", "Bolt", 200.0, 0.0, "", "Open"),  # no longer void
            ("A-4", "K9", "Kilo Ltd", 100.0, 0.0, "", "Open"),
        ],
    )
    again = run(db_url, second, mapping=second / "mapping.toml")
    payments = again.tables["payments"]
    assert (payments.deleted, payments.updated) == (1, 1)
    assert again.tables["customers"].updated == 0  # "Kilo Ltd" is not written over "Kilo"
    stored = dump(db_url)
    paid = stored["payments"].set_index("payment_id")["amount"]
    assert "PAID-A-1" not in paid.index and paid["PAID-A-2"] == pytest.approx(120.0)
    assert stored["customers"].set_index("customer_id").loc["K9", "name"] == "Kilo"
    assert not stored["invoices"]["voided"].astype(bool).any()
    assert "A-3" in set(load_ledger(get_engine(db_url)).invoices["invoice_id"])
