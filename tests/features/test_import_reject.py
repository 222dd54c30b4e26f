"""`duecast import --reject-file`: the good rows go in, every problem goes to the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features.store import get_engine
from kernel.errors import DataImportError
from tests.features.test_import import dump, make_ledger, run, write_ledger


def _rejects(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _bad_ledger() -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """A ledger with one bad invoice, one bad new customer, and rows that need them."""
    frames = make_ledger(seed=5, customers=6, invoices=30)
    cust, inv, pay = frames["customers"], frames["invoices"], frames["payments"]
    bad_invoice = pay["invoice_id"].iloc[0]  # paid: its payment must go with it
    inv["amount"] = inv["amount"].astype(object)
    inv.loc[inv["invoice_id"] == bad_invoice, "amount"] = "twelve"
    bad_customer = cust["customer_id"].iloc[-1]
    cust.loc[cust.index[-1], "credit_limit"] = -5.0
    return frames, {"invoice": bad_invoice, "customer": bad_customer}


def test_reject_file_imports_the_good_rows_and_rejects_what_needs_a_bad_one(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames, bad = _bad_ledger()
    rejects = tmp_path / "rejects.csv"
    summary = run(sqlite_url, write_ledger(frames, tmp_path / "in"), reject_file=rejects)

    stored = dump(sqlite_url)
    inv, pay, act = frames["invoices"], frames["payments"], frames["actions"]
    of_customer = inv["customer_id"] == bad["customer"]
    gone_invoices = set(inv.loc[of_customer, "invoice_id"]) | {bad["invoice"]}
    assert bad["customer"] not in set(stored["customers"]["customer_id"])
    assert set(stored["invoices"]["invoice_id"]) == set(inv["invoice_id"]) - gone_invoices
    gone_payments = pay["invoice_id"].isin(gone_invoices)
    assert set(stored["payments"]["payment_id"]) == set(pay.loc[~gone_payments, "payment_id"])
    gone_actions = act["invoice_id"].isin(gone_invoices) | (act["customer_id"] == bad["customer"])
    assert set(stored["actions"]["action_id"]) == set(act.loc[~gone_actions, "action_id"])

    counts = summary.tables
    assert counts["customers"].rejected == 1
    assert counts["invoices"].rejected == len(gone_invoices)
    assert counts["payments"].rejected == int(gone_payments.sum())
    assert counts["actions"].rejected == int(gone_actions.sum())
    for c in counts.values():
        assert c.read == c.inserted + c.updated + c.unchanged + c.rejected
    assert not summary.dry_run

    listed = _rejects(rejects)
    assert list(listed.columns) == ["file", "line", "column", "reason"]
    assert len(listed) == summary.problems
    bad_line = str(int(inv.index[inv["invoice_id"] == bad["invoice"]][0]) + 2)
    mine = listed[(listed["file"] == "invoices.csv") & (listed["line"] == bad_line)]
    assert mine["column"].tolist() == ["amount"] and "twelve" in mine["reason"].iloc[0]
    # A dependent row names what it needed.
    payment_line = str(int(pay.index[pay["invoice_id"] == bad["invoice"]][0]) + 2)
    dependent = listed[(listed["file"] == "payments.csv") & (listed["line"] == payment_line)]
    assert bad["invoice"] in dependent["reason"].iloc[0]
    assert "is rejected (see its own line)" in dependent["reason"].iloc[0]
    assert summary.rejected_rows == len(listed[["file", "line"]].drop_duplicates())


def test_reject_file_lists_every_problem_beyond_the_cap(sqlite_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=6, customers=4, invoices=20)
    frames["invoices"].loc[:9, "due_date"] = "someday"  # ten bad rows, cap of three
    rejects = tmp_path / "rejects.csv"
    summary = run(
        sqlite_url, write_ledger(frames, tmp_path / "in"), reject_file=rejects, error_cap=3
    )
    listed = _rejects(rejects)
    on_invoices = listed[listed["file"] == "invoices.csv"]
    assert on_invoices["line"].tolist() == [str(i) for i in range(2, 12)]
    assert len(listed) == summary.problems > 3
    assert summary.tables["invoices"].rejected == 10
    assert summary.tables["invoices"].inserted == 10
    assert len(dump(sqlite_url)["invoices"]) == 10


def test_a_rejected_update_of_a_stored_invoice_keeps_its_payments(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=7, customers=4, invoices=20)
    run(sqlite_url, write_ledger(frames, tmp_path / "first"))
    again = {k: v.copy() for k, v in frames.items()}
    paid = frames["payments"]["invoice_id"].iloc[0]
    again["invoices"]["amount"] = again["invoices"]["amount"].astype(object)
    again["invoices"].loc[again["invoices"]["invoice_id"] == paid, "amount"] = "-"
    again["payments"]["amount"] = again["payments"]["amount"] + 1.0  # every payment changes
    rejects = tmp_path / "rejects.csv"
    summary = run(sqlite_url, write_ledger(again, tmp_path / "second"), reject_file=rejects)
    # The stored invoice is still a valid parent: its payments are updated like the others.
    assert summary.tables["invoices"].rejected == 1
    assert summary.tables["payments"].rejected == 0
    assert summary.tables["payments"].updated == len(frames["payments"])
    stored = dump(sqlite_url)["invoices"].set_index("invoice_id")
    original = frames["invoices"].set_index("invoice_id").loc[paid, "amount"]
    assert stored.loc[paid, "amount"] == pytest.approx(original)


def test_a_missing_column_stops_the_import_even_with_a_reject_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=8, customers=3, invoices=10)
    frames["invoices"] = frames["invoices"].drop(columns=["due_date"])
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(DataImportError, match="due_date"):
        run(sqlite_url, write_ledger(frames, tmp_path / "in"), reject_file=rejects)
    assert not rejects.exists()
    engine = get_engine(sqlite_url)
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
    assert "customers" not in tables  # the store was not even created


def test_an_unwritable_reject_file_imports_nothing(sqlite_url: str, tmp_path: Path) -> None:
    frames, _ = _bad_ledger()
    with pytest.raises(DataImportError, match="reject file"):
        run(
            sqlite_url,
            write_ledger(frames, tmp_path / "in"),
            reject_file=tmp_path / "no-such-folder" / "rejects.csv",
        )
    assert all(len(t) == 0 for t in dump(sqlite_url).values())


def test_without_a_reject_file_one_bad_row_still_writes_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames, _ = _bad_ledger()
    with pytest.raises(DataImportError) as caught:
        run(sqlite_url, write_ledger(frames, tmp_path / "in"))
    assert caught.value.total >= 2
    assert all(len(t) == 0 for t in dump(sqlite_url).values())


def _customers_and_invoices(folder: Path, invoice_lines: list[str], mapping: str) -> Path:
    folder.mkdir(parents=True)
    customers = make_ledger(seed=9, customers=2, invoices=2)["customers"]
    customers.to_csv(folder / "customers.csv", index=False)
    (folder / "invoices.csv").write_text("\n".join(invoice_lines) + "\n", encoding="utf-8")
    (folder / "mapping.toml").write_text(mapping, encoding="utf-8")
    return folder


def test_a_bad_line_item_rejects_its_whole_invoice(sqlite_url: str, tmp_path: Path) -> None:
    folder = _customers_and_invoices(
        tmp_path / "in",
        [
            "invoice_id,customer_id,issue_date,due_date,amount",
            "A-1,C000,2024-03-01,2024-03-31,100.00",
            "A-2,C001,2024-03-02,2024-04-01,50.00",
            "A-1,C000,2024-03-01,2024-03-31,??",  # line 4: the second line of A-1
            "A-2,C001,2024-03-02,2024-04-01,25.00",
        ],
        "[invoices]\nlines = true\n",
    )
    rejects = tmp_path / "rejects.csv"
    summary = run(sqlite_url, folder, mapping=folder / "mapping.toml", reject_file=rejects)
    stored = dump(sqlite_url)["invoices"].set_index("invoice_id")["amount"]
    assert stored.to_dict() == {"A-2": 75.0}
    assert summary.tables["invoices"].rejected == 1
    listed = _rejects(rejects)
    assert set(zip(listed["file"], listed["line"], strict=True)) == {
        ("invoices.csv", "4"),  # the unreadable amount
        ("invoices.csv", "2"),  # A-1 itself, left without a total
    }


def test_a_header_problem_stops_the_import_even_with_a_reject_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    folder = _customers_and_invoices(
        tmp_path / "in",
        [
            "invoice_id,customer_id,issue_date,due_date,amount,amount",
            "A-1,C000,2024-03-01,2024-03-31,100.00,1",
        ],
        "",
    )
    with pytest.raises(DataImportError, match="more than once"):
        run(sqlite_url, folder, mapping=folder / "mapping.toml", reject_file=tmp_path / "r.csv")
    with get_engine(sqlite_url).connect() as conn:
        assert "invoices" not in sa.inspect(conn).get_table_names()  # nothing touched
