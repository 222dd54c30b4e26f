"""Import of a folder of exports: counts, round trip, idempotency, updates, all-or-nothing.

The ledgers are tiny and made by a seeded factory below; the count and idempotency
tests run on SQLite and on a real PostgreSQL database (`db_url`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.importing import ImportSummary, import_directory
from features.store import get_engine
from kernel.errors import BadRow, DataImportError, StoreError
from kernel.schema import IMPORT_ORDER, TABLES

# The tables `make_ledger` writes (IMPORT_ORDER also holds exchange rates).
LEDGER = ("customers", "invoices", "payments", "adjustments", "actions")


def make_ledger(
    *, seed: int = 0, customers: int = 6, invoices: int = 30
) -> dict[str, pd.DataFrame]:
    """A small consistent ledger in the canonical file format (all five tables)."""
    rng = np.random.default_rng(seed)
    cust_ids = [f"C{i:03d}" for i in range(customers)]
    cust = pd.DataFrame(
        {
            "customer_id": cust_ids,
            "name": [f"Customer {i}, Ltd" for i in range(customers)],
            "country": rng.choice(["DE", "FR", "NL"], customers),
            "industry": rng.choice(["retail", "construction"], customers),
            "created_at": "2021-03-01",
            "credit_limit": rng.integers(1, 50, customers) * 1000.0,
            "payment_terms_days": rng.choice([30, 45, 60], customers),
            "currency": "EUR",
        }
    )
    issue = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, invoices), "D")
    inv = pd.DataFrame(
        {
            "invoice_id": [f"INV-{i:04d}" for i in range(invoices)],
            "customer_id": rng.choice(cust_ids, invoices),
            "issue_date": issue.strftime("%Y-%m-%d"),
            "due_date": (issue + pd.Timedelta(days=30)).strftime("%Y-%m-%d"),
            "amount": rng.lognormal(7, 1, invoices).round(2),
            "currency": "EUR",
            "disputed": np.where(np.arange(invoices) % 7 == 3, "true", "false"),
            "dispute_date": np.where(
                np.arange(invoices) % 7 == 3,
                (issue + pd.Timedelta(days=40)).strftime("%Y-%m-%d"),
                "",
            ),
        }
    )
    paid = inv.iloc[: invoices * 2 // 3]
    pay_dates = pd.to_datetime(paid["issue_date"]) + pd.to_timedelta(
        rng.integers(5, 80, len(paid)), "D"
    )
    pay = pd.DataFrame(
        {
            "payment_id": [f"PAY-{i:04d}" for i in range(len(paid))],
            "invoice_id": paid["invoice_id"].to_numpy(),
            "customer_id": paid["customer_id"].to_numpy(),
            "payment_date": pay_dates.dt.strftime("%Y-%m-%d").to_numpy(),
            "amount": paid["amount"].to_numpy(),
        }
    )
    adj = pd.DataFrame(
        {
            "adjustment_id": ["ADJ-1", "ADJ-2"],
            "invoice_id": inv["invoice_id"].iloc[-2:].to_numpy(),
            "date": inv["due_date"].iloc[-2:].to_numpy(),
            "amount": [12.5, 40.0],
            "kind": ["credit_note", "write_off"],
        }
    )
    act = pd.DataFrame(
        {
            "action_id": ["ACT-1", "ACT-2", "ACT-3"],
            "customer_id": [inv["customer_id"].iloc[-1], inv["customer_id"].iloc[-2], cust_ids[0]],
            "invoice_id": [inv["invoice_id"].iloc[-1], inv["invoice_id"].iloc[-2], ""],
            "at": ["2024-11-02T09:30:00Z", "2024-11-03 14:05:00", "2024-11-04T08:00:00+01:00"],
            "kind": ["call", "promise", "note"],
            "promised_date": ["", "2024-11-20", ""],
            "promised_amount": ["", "500.00", ""],
            "author": ["ana", "ben", "ana"],
            "text": ["left a voicemail", 'promised "next week"', "new contact:\nMrs. Weber"],
        }
    )
    return {"customers": cust, "invoices": inv, "payments": pay, "adjustments": adj, "actions": act}


def write_ledger(frames: dict[str, pd.DataFrame], directory: Path, *, fmt: str = "csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "csv":
            frame.to_csv(directory / f"{name}.csv", index=False)
        else:
            frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory


def dump(url: str) -> dict[str, pd.DataFrame]:
    with get_engine(url).connect() as conn:
        return {
            name: pd.read_sql(sa.text(f"SELECT * FROM {name} ORDER BY {TABLES[name].key}"), conn)
            for name in IMPORT_ORDER
        }


def file_hash(url: str) -> str:
    return hashlib.sha256(Path(sa.engine.make_url(url).database).read_bytes()).hexdigest()


def run(url: str, directory: Path, **kwargs) -> ImportSummary:
    return import_directory(get_engine(url), directory, **kwargs)


# ------------------------------------------------------------------ happy paths


def test_counts_and_values_round_trip(db_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=1)
    summary = run(db_url, write_ledger(frames, tmp_path / "in"))

    stored = dump(db_url)
    for name in LEDGER:
        assert len(stored[name]) == len(frames[name]), name
        assert summary.tables[name].read == summary.tables[name].inserted == len(frames[name])

    inv = stored["invoices"].set_index("invoice_id")
    src = frames["invoices"].set_index("invoice_id")
    assert np.allclose(inv["amount"], src["amount"])
    assert (pd.to_datetime(inv["due_date"]) == pd.to_datetime(src["due_date"])).all()
    assert inv["disputed"].astype(bool).tolist() == (src["disputed"] == "true").tolist()
    assert inv["dispute_date"].isna().sum() == (src["dispute_date"] == "").sum()

    act = stored["actions"].set_index("action_id")
    assert act.loc["ACT-3", "text"] == "new contact:\nMrs. Weber"
    assert act.loc["ACT-2", "text"] == 'promised "next week"'
    assert pd.isna(act.loc["ACT-3", "invoice_id"])
    at = pd.to_datetime(act["at"], utc=True, format="ISO8601")
    assert at.loc["ACT-3"] == pd.Timestamp("2024-11-04T07:00:00Z")
    assert at.loc["ACT-2"] == pd.Timestamp("2024-11-03T14:05:00Z")


def test_importing_twice_changes_nothing(db_url: str, tmp_path: Path) -> None:
    folder = write_ledger(make_ledger(seed=2), tmp_path / "in")
    run(db_url, folder)
    before = dump(db_url)

    again = run(db_url, folder)

    assert not again.changed
    for name, counts in again.tables.items():
        assert (counts.inserted, counts.updated) == (0, 0), name
        assert counts.unchanged == counts.read == len(before[name]), name
    after = dump(db_url)
    for name in IMPORT_ORDER:  # every table, the rates too
        pd.testing.assert_frame_equal(before[name], after[name])


def test_changed_reexport_updates_by_key_and_deletes_nothing(db_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=3)
    run(db_url, write_ledger(frames, tmp_path / "first"))

    changed = {k: v.copy() for k, v in frames.items()}
    inv = changed["invoices"]
    target = inv.index[inv["disputed"] == "false"][0]
    inv.loc[target, ["disputed", "dispute_date"]] = ["true", "2024-12-01"]
    unpaid = inv.iloc[-5]
    new_payment = {
        "payment_id": "PAY-NEW",
        "invoice_id": unpaid["invoice_id"],
        "customer_id": unpaid["customer_id"],
        "payment_date": "2024-12-15",
        "amount": 10.0,
    }
    changed["payments"] = pd.concat([changed["payments"], pd.DataFrame([new_payment])])
    changed["actions"] = changed["actions"].iloc[1:]  # a shorter export never deletes
    summary = run(db_url, write_ledger(changed, tmp_path / "second"))

    assert summary.tables["invoices"].updated == 1
    assert summary.tables["invoices"].unchanged == len(inv) - 1
    assert summary.tables["payments"].inserted == 1
    assert summary.tables["payments"].updated == 0
    assert summary.tables["customers"].unchanged == len(frames["customers"])
    stored = dump(db_url)
    row = stored["invoices"].set_index("invoice_id").loc[inv.loc[target, "invoice_id"]]
    assert bool(row["disputed"]) is True
    assert pd.Timestamp(row["dispute_date"]) == pd.Timestamp("2024-12-01")
    assert "PAY-NEW" in set(stored["payments"]["payment_id"])
    assert len(stored["actions"]) == len(frames["actions"])


def test_parquet_import_matches_csv(sqlite_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=4)
    typed = {k: v.copy() for k, v in frames.items()}
    for name, frame in typed.items():  # native Parquet types, as a real export has them
        for column in TABLES[name].columns:
            if column.name not in frame.columns:
                continue
            if column.kind == "date":
                frame[column.name] = pd.to_datetime(frame[column.name].replace("", None))
            if column.kind == "bool":
                frame[column.name] = frame[column.name] == "true"
    first = run(sqlite_url, write_ledger(typed, tmp_path / "pq", fmt="parquet"))
    assert all(c.inserted == len(frames[n]) for n, c in first.tables.items())

    second = run(sqlite_url, write_ledger(frames, tmp_path / "csv"))

    assert not second.changed


def test_references_resolve_against_the_store(db_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=5)
    run(db_url, write_ledger(frames, tmp_path / "first"))
    old = frames["invoices"].iloc[-1]
    later = {
        "customers": frames["customers"].iloc[:0],  # header only: no customer rows
        "invoices": pd.DataFrame(
            [
                {
                    "invoice_id": "INV-LATE",
                    "customer_id": frames["customers"]["customer_id"].iloc[0],
                    "issue_date": "2025-01-02",
                    "due_date": "2025-02-01",
                    "amount": 99.0,
                }
            ]
        ),
        "payments": pd.DataFrame(
            [  # customer_id left empty: filled from the stored invoice
                {
                    "payment_id": "PAY-LATE",
                    "invoice_id": old["invoice_id"],
                    "customer_id": "",
                    "payment_date": "2025-01-10",
                    "amount": 5.0,
                }
            ]
        ),
    }
    summary = run(db_url, write_ledger(later, tmp_path / "later"))

    assert summary.tables["customers"].read == 0
    assert summary.tables["invoices"].inserted == 1
    stored = dump(db_url)["payments"].set_index("payment_id")
    assert stored.loc["PAY-LATE", "customer_id"] == old["customer_id"]


def test_progress_reports_reading_checking_and_writing(sqlite_url: str, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    run(
        sqlite_url,
        write_ledger(make_ledger(seed=6, invoices=40), tmp_path / "in"),
        chunk_rows=10,
        on_progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    stages = {stage for stage, _, _ in calls}
    assert {"read files", "check rows", "write invoices", "write payments"} <= stages
    writes = [(d, t) for s, d, t in calls if s == "write invoices"]
    assert writes[0] == (0, 40) and writes[-1] == (40, 40) and len(writes) == 5


# ------------------------------------------------------------------ bad rows


def _problems(
    exc: pytest.ExceptionInfo[DataImportError],
) -> set[tuple[str, int | None, str | None]]:
    return {(r.file, r.line, r.column) for r in exc.value.bad_rows}


@pytest.mark.parametrize("problem", ["due_before_issue", "unknown_invoice"])
def test_one_bad_row_writes_nothing(sqlite_url: str, tmp_path: Path, problem: str) -> None:
    frames = make_ledger(seed=7)
    run(sqlite_url, write_ledger(frames, tmp_path / "first"))
    before = file_hash(sqlite_url)

    changed = make_ledger(seed=7, invoices=40)  # 10 new good invoices ...
    if problem == "due_before_issue":  # ... and one bad row, found in the file alone
        changed["invoices"].loc[12, "due_date"] = "2023-01-01"
        expected = BadRow(
            "invoices.csv",
            14,
            "due_date",
            "due date 2023-01-01 is before the issue date "
            + changed["invoices"].loc[12, "issue_date"],
        )
    else:  # ... or found only against the files and the store
        changed["payments"].loc[3, "invoice_id"] = "INV-9999"
        expected = BadRow(
            "payments.csv",
            5,
            "invoice_id",
            "unknown invoice 'INV-9999': not in the invoices file nor in the store",
        )
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, write_ledger(changed, tmp_path / "second"))

    assert exc.value.bad_rows == [expected]
    message = str(exc.value)
    assert "nothing was written" in message and f"{expected.file}:{expected.line} [" in message
    assert file_hash(sqlite_url) == before


def test_every_bad_row_is_reported(sqlite_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=8)
    cust, inv, pay, adj, act = (frames[n] for n in LEDGER)
    cust.loc[1, "created_at"] = "31/12/2020"  # customers.csv:3
    cust.loc[2, "payment_terms_days"] = 10**10  # :4 beyond an INTEGER column
    inv.loc[0, "amount"] = -5  # invoices.csv:2
    inv.loc[1, "customer_id"] = "NOBODY"  # :3
    inv.loc[2, "issue_date"] = ""  # :4
    inv.loc[3, "disputed"] = "maybe"  # :5
    inv.loc[25, "invoice_id"] = inv.loc[24, "invoice_id"]  # :26 and :27 (unpaid ones)
    pay.loc[0, "payment_date"] = "2024-13-01"  # payments.csv:2 no such month
    pay.loc[1, "invoice_id"] = "INV-9999"  # :3
    pay.loc[2, "customer_id"] = cust["customer_id"][
        cust["customer_id"] != pay.loc[2, "customer_id"]
    ].iloc[0]
    pay["amount"] = pay["amount"].astype(object)
    pay.loc[3, "amount"] = "12,5"  # :5 not a number without a mapping
    pay.loc[4, "amount"] = 0  # :6
    adj.loc[0, "kind"] = "discount"  # adjustments.csv:2
    act.loc[1, "kind"] = "shout"  # actions.csv:3
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, write_ledger(frames, tmp_path / "in"))

    assert _problems(exc) == {
        ("customers.csv", 3, "created_at"),
        ("customers.csv", 4, "payment_terms_days"),
        ("invoices.csv", 2, "amount"),
        ("invoices.csv", 3, "customer_id"),
        ("invoices.csv", 4, "issue_date"),
        ("invoices.csv", 5, "disputed"),
        ("invoices.csv", 26, "invoice_id"),
        ("invoices.csv", 27, "invoice_id"),
        ("payments.csv", 2, "payment_date"),
        ("payments.csv", 3, "invoice_id"),
        ("payments.csv", 4, "customer_id"),
        ("payments.csv", 5, "amount"),
        ("payments.csv", 6, "amount"),
        ("adjustments.csv", 2, "kind"),
        ("actions.csv", 3, "kind"),
    }
    reasons = {(r.file, r.line): r.reason for r in exc.value.bad_rows}
    assert "'31/12/2020' as a date" in reasons[("customers.csv", 3)]
    assert "unknown customer 'NOBODY'" in reasons[("invoices.csv", 3)]
    assert "also on line 26" in reasons[("invoices.csv", 27)]
    assert "'2024-13-01' as a date" in reasons[("payments.csv", 2)]
    assert "not one of credit_note, write_off" in reasons[("adjustments.csv", 2)]
    assert exc.value.total == 15
    assert "15 problem(s) in 15 row(s)" in str(exc.value)
    with get_engine(sqlite_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM invoices")).scalar() == 0


def test_error_cap_lists_the_first_and_counts_all(sqlite_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=9, invoices=30)
    frames["invoices"]["amount"] = 0.0
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, write_ledger(frames, tmp_path / "in"), error_cap=5)

    assert [r.line for r in exc.value.bad_rows] == [2, 3, 4, 5, 6]
    assert exc.value.total == 30
    assert "... and 25 more" in str(exc.value)


def test_missing_required_column_names_it_and_the_columns_found(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=10)
    frames["invoices"] = frames["invoices"].drop(columns=["due_date"]).assign(extra="x")
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, write_ledger(frames, tmp_path / "in"))

    (row,) = exc.value.bad_rows
    assert (row.file, row.line, row.column) == ("invoices.csv", None, "due_date")
    assert "required column 'due_date' is missing" in row.reason
    assert "invoice_id, customer_id, issue_date, amount" in row.reason


def test_quoted_line_breaks_keep_line_numbers_physical(sqlite_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=11)
    frames["actions"].loc[2, "kind"] = "shout"  # ACT-3, after a record spanning 3 lines
    frames["actions"].loc[0, "text"] = "line one\nline two\nline three"
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, write_ledger(frames, tmp_path / "in"))

    # Header = 1, ACT-1 spans lines 2-4, ACT-2 is line 5, ACT-3 starts on line 6.
    assert _problems(exc) == {("actions.csv", 6, "kind")}


def test_blank_lines_keep_line_numbers_physical(sqlite_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=13)
    frames["invoices"].loc[4, "amount"] = -1.0  # INV-0004, the fifth record
    folder = write_ledger(frames, tmp_path / "in")
    path = folder / "invoices.csv"
    header, *records = path.read_text().splitlines()
    # Blank lines before the first record, in the middle (before the bad one) and at the end.
    path.write_text("\n".join([header, "", *records[:3], "", "", *records[3:], "", ""]) + "\n")
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    # Header = 1, blank 2, INV-0000..0002 on 3-5, blanks 6-7, INV-0003 on 8, INV-0004 on 9.
    assert _problems(exc) == {("invoices.csv", 9, "amount")}


def test_quoted_line_breaks_after_blank_lines_keep_line_numbers_physical(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=14)
    frames["actions"].loc[0, "text"] = "line one\n\nline three"  # an empty line in quotes
    frames["actions"].loc[2, "kind"] = "shout"
    folder = write_ledger(frames, tmp_path / "in")
    path = folder / "actions.csv"
    text = path.read_text()
    path.write_text(text.replace("\nACT-2,", "\n\nACT-2,"))  # a blank line before ACT-2
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    # Header = 1, ACT-1 spans lines 2-4, blank 5, ACT-2 is line 6, ACT-3 starts on line 7.
    assert _problems(exc) == {("actions.csv", 7, "kind")}


def test_a_write_refused_midway_rolls_everything_back(sqlite_url: str, tmp_path: Path) -> None:
    run(sqlite_url, write_ledger(make_ledger(seed=12), tmp_path / "first"))
    with get_engine(sqlite_url).begin() as conn:  # the store refuses new payments
        conn.execute(
            sa.text(
                "CREATE TRIGGER no_pay BEFORE INSERT ON payments "
                "BEGIN SELECT RAISE(ABORT, 'payments are frozen'); END"
            )
        )
    before = file_hash(sqlite_url)

    bigger = make_ledger(seed=12, customers=8, invoices=45)  # customers, invoices go first
    with pytest.raises(StoreError, match=r"payments are frozen.*nothing was written"):
        run(sqlite_url, write_ledger(bigger, tmp_path / "second"))

    assert file_hash(sqlite_url) == before
