"""Mapping v2, invoices reshaped: line items, credit notes, paid amounts, terms, voids,
customers made from the invoices, prepayments.

Each test imports a small export made here through `import_directory` into a SQLite
store and checks the stored rows (or the problems, by file and line).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd
import pytest

from features.build import build_open_invoice_rows
from features.import_sources import read_sources
from features.importing import import_directory
from features.ledger import load_ledger
from features.mapping import load_mapping
from features.problems import Problems
from features.store import get_engine
from features.timeline import invoice_timeline
from kernel.errors import DataImportError
from tests.features.test_mapping_v2 import CUSTOMERS, problems, run, stored, write

HEADER = "Invoice #,Client,Client Name,Invoice Date,Due Date,Line Total,Amount Paid,"
HEADER += "Last Payment,Terms,Status,Applied To\n"
LINES = HEADER + (
    "1001,C1,Acme Inc,01/05/2024,,60.00,100.00,02/01/2024,Net 30,Sent,\n"
    "1001,C1,,01/05/2024,,40.00,0,,,Sent,\n"
    "1002,C2,Brick LLC,01/10/2024,02/15/2024,200.00,0,,,Sent,\n"
    "1003,C2,,01/12/2024,,-50.00,,,Due on receipt,Sent,1002\n"
    "1004,C1,,01/15/2024,,300.00,,,NAA8,Void,\n"
)
MAPPING = """
[customers]
from_invoices = true
[customers.defaults]
country = "US"

[invoices]
file = "lines.csv"
date_format = "%m/%d/%Y"
lines = true
negative = "credit_note"
credit_for = "Applied To"
paid_amount = "Amount Paid"
last_payment_date = "Last Payment"
terms = "Terms"
customer_name = "Client Name"
void = { column = "Status", values = ["Void", "Cancelled"] }
[invoices.terms_codes]
"Due on receipt" = 0
NAA8 = 30
[invoices.columns]
invoice_id = "Invoice #"
customer_id = "Client"
issue_date = "Invoice Date"
due_date = "Due Date"
amount = "Line Total"
"""


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_line_items_become_invoices_with_everything_derived(
    sqlite_url: str, tmp_path: Path
) -> None:
    folder = write(tmp_path, {"lines.csv": LINES, "mapping.toml": MAPPING})
    summary = run(sqlite_url, folder)

    invoices = stored(sqlite_url, "invoices", "invoice_id")
    assert list(invoices.index) == ["1001", "1002", "1004"]
    assert invoices.loc["1001", "amount"] == pytest.approx(100.0)  # 60 + 40
    # Net 30 (digits of the value), the code table, and the file's own due date.
    assert day(invoices.loc["1001", "due_date"]) == day("2024-02-04")
    assert day(invoices.loc["1004", "due_date"]) == day("2024-02-14")
    assert day(invoices.loc["1002", "due_date"]) == day("2024-02-15")
    assert invoices["voided"].astype(bool).tolist() == [False, False, True]

    notes = stored(sqlite_url, "adjustments", "adjustment_id")
    assert list(notes.index) == ["CN-1003"]
    assert (notes.loc["CN-1003", "invoice_id"], notes.loc["CN-1003", "kind"]) == (
        "1002",
        "credit_note",
    )
    assert notes.loc["CN-1003", "amount"] == pytest.approx(50.0)
    assert day(notes.loc["CN-1003", "date"]) == day("2024-01-12")

    payments = stored(sqlite_url, "payments", "payment_id")
    assert list(payments.index) == ["PAID-1001"]  # 1002 paid 0: no payment
    assert payments.loc["PAID-1001", "amount"] == pytest.approx(100.0)
    assert day(payments.loc["PAID-1001", "payment_date"]) == day("2024-02-01")

    customers = stored(sqlite_url, "customers", "customer_id")
    assert customers["name"].to_dict() == {"C1": "Acme Inc", "C2": "Brick LLC"}
    assert customers["country"].tolist() == ["US", "US"]
    assert day(customers.loc["C2", "created_at"]) == day("2024-01-10")
    assert summary.files["invoices"] == ["lines.csv"]

    assert not run(sqlite_url, folder).changed


def test_a_bad_line_item_names_its_own_line(sqlite_url: str, tmp_path: Path) -> None:
    bad = LINES.replace("1001,C1,,01/05/2024,,40.00", "1001,C1,,01/05/2024,,forty")
    folder = write(tmp_path, {"lines.csv": bad, "mapping.toml": MAPPING})
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("lines.csv", 3)
    assert "cannot read 'forty' as an amount" in reason


def test_lines_sum_to_a_negative_without_credit_notes_is_rejected(
    sqlite_url: str, tmp_path: Path
) -> None:
    mapping = MAPPING.replace('negative = "credit_note"\ncredit_for = "Applied To"\n', "")
    folder = write(tmp_path, {"lines.csv": LINES, "mapping.toml": mapping})
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("lines.csv", 5)
    assert "invoice amount -50 is not positive" in reason


def test_a_credit_note_must_name_its_invoice(sqlite_url: str, tmp_path: Path) -> None:
    bad = LINES.replace("Sent,1002", "Sent,")
    folder = write(tmp_path, {"lines.csv": bad, "mapping.toml": MAPPING})
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("lines.csv", 5)
    assert "credit note '1003' does not name the invoice it credits; map credit_for" in reason


@pytest.mark.parametrize(
    ("paid", "reason"),
    [
        ("150.00,02/01/2024", "paid amount 150 is more than the amount 100"),
        ("100.00,", "paid amount 100 has no payment date"),
        ("-5.00,02/01/2024", "paid amount -5 is negative"),
    ],
)
def test_paid_amount_problems_name_the_invoice_line(
    sqlite_url: str, tmp_path: Path, paid: str, reason: str
) -> None:
    mapping = MAPPING.replace("lines = true\n", "")
    one = HEADER + f"1001,C1,Acme,01/05/2024,02/04/2024,100.00,{paid},,Sent,\n"
    folder = write(tmp_path, {"lines.csv": one, "mapping.toml": mapping})
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    ((file, line, text),) = problems(exc)
    assert (file, line) == ("lines.csv", 2)
    assert reason in text


BALANCES = """
[invoices]
file = "open.csv"
balance = "Balance"
settled_date = "Cleared"
[invoices.columns]
invoice_id = "No"
customer_id = "Cust"
issue_date = "Date"
due_date = "Due"
amount = "Total"
"""


def test_balance_derives_paid_and_settled_fills_the_rest(sqlite_url: str, tmp_path: Path) -> None:
    rows = (
        "No,Cust,Date,Due,Total,Balance,Cleared\n"
        "A,C1,2024-01-01,2024-01-31,100,40,2024-01-20\n"  # 60 paid on the cleared date
        "B,C1,2024-01-01,2024-01-31,100,,2024-01-25\n"  # no balance: settled in full
        "C,C2,2024-01-01,2024-01-31,100,100,\n"  # nothing paid
    )
    folder = write(
        tmp_path, {"customers.csv": CUSTOMERS, "open.csv": rows, "mapping.toml": BALANCES}
    )
    run(sqlite_url, folder)

    payments = stored(sqlite_url, "payments", "payment_id")
    assert payments["amount"].to_dict() == {"PAID-A": 60.0, "SETTLED-B": 100.0}
    assert day(payments.loc["PAID-A", "payment_date"]) == day("2024-01-20")


def test_derived_payment_invoices_and_customers_are_reported(tmp_path: Path) -> None:
    folder = write(tmp_path, {"lines.csv": LINES, "mapping.toml": MAPPING})
    found = read_sources(
        folder, load_mapping(folder / "mapping.toml"), Problems(cap=10), lambda *_: None
    )

    assert sorted(found.derived_payment_invoices) == ["1001", "1002", "1004"]
    assert found.derived_customers
    assert [t.file for t in found.tables["customers"]] == ["lines.csv"]


TERMS = """
[invoices]
terms = "terms"
terms_days = 14
"""


def test_terms_fill_empty_due_dates_from_every_source(sqlite_url: str, tmp_path: Path) -> None:
    customers = CUSTOMERS.replace("name,created_at", "name,created_at,payment_terms_days")
    customers = customers.replace("2023-01-01", "2023-01-01,45").replace(
        "2023-02-01", "2023-02-01,"
    )
    invoices = (
        "invoice_id,customer_id,issue_date,due_date,amount,terms\n"
        "I1,C1,2024-01-01,,10,2/10 Net 60\n"  # the largest number: 60
        "I2,C2,2024-01-01,,10,\n"  # terms_days
        "I3,C2,2024-01-01,2024-01-05,10,Net 90\n"  # a due date given wins
    )
    files = {"customers.csv": customers, "invoices.csv": invoices, "mapping.toml": TERMS}
    run(sqlite_url, write(tmp_path, files))

    due = stored(sqlite_url, "invoices", "invoice_id")["due_date"].map(day)
    assert due.to_dict() == {
        "I1": day("2024-03-01"),
        "I2": day("2024-01-15"),
        "I3": day("2024-01-05"),
    }


def test_customer_terms_fill_when_the_mapping_has_none(sqlite_url: str, tmp_path: Path) -> None:
    customers = CUSTOMERS.replace("name,created_at", "name,created_at,payment_terms_days")
    customers = customers.replace("2023-01-01", "2023-01-01,45").replace(
        "2023-02-01", "2023-02-01,"
    )
    invoices = (
        "invoice_id,customer_id,issue_date,amount,terms\n"
        "I1,C1,2024-01-01,10,\n"  # C1's 45 days
        "I2,C2,2024-01-01,10,Quarterly\n"  # nothing known
    )
    mapping = '[invoices]\nterms = "terms"\n'
    files = {"customers.csv": customers, "invoices.csv": invoices, "mapping.toml": mapping}
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, write(tmp_path, files))

    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("invoices.csv", 3)
    assert reason == (
        "due date missing and terms 'Quarterly' unknown; add it to [invoices.terms_codes]"
    )

    (tmp_path / "invoices.csv").write_text(invoices.replace("Quarterly", ""))
    with pytest.raises(DataImportError, match="no payment terms to compute it from"):
        run(sqlite_url, tmp_path)
    (tmp_path / "invoices.csv").write_text(invoices.rsplit("I2", 1)[0])
    run(sqlite_url, tmp_path)
    due = stored(sqlite_url, "invoices", "invoice_id")["due_date"]
    assert day(due.loc["I1"]) == day("2024-02-15")


def test_derived_customers_never_overwrite_stored_ones(sqlite_url: str, tmp_path: Path) -> None:
    real = "customer_id,name,created_at\nC1,Acme Incorporated,2020-01-01\n"
    engine = get_engine(sqlite_url)
    first = write(tmp_path / "first", {"customers.csv": real, "invoices.csv": LINES.split("\n")[0]})
    (first / "invoices.csv").write_text("invoice_id,customer_id,issue_date,due_date,amount\n")
    import_directory(engine, first)

    summary = run(
        sqlite_url, write(tmp_path / "second", {"lines.csv": LINES, "mapping.toml": MAPPING})
    )

    customers = stored(sqlite_url, "customers", "customer_id")
    assert customers.loc["C1", "name"] == "Acme Incorporated"
    assert customers.loc["C2", "name"] == "Brick LLC"
    assert summary.tables["customers"].inserted == 1


def test_a_prepayment_is_imported_and_settles_on_the_issue_date(
    sqlite_url: str, tmp_path: Path
) -> None:
    invoices = (
        "invoice_id,customer_id,issue_date,due_date,amount\n"
        "I1,C1,2024-03-01,2024-03-31,80\n"  # paid in advance
        "I2,C1,2024-03-01,2024-03-31,50\n"  # still open
    )
    payments = "payment_id,invoice_id,payment_date,amount\nP1,I1,2024-02-20,80\n"
    files = {"customers.csv": CUSTOMERS, "invoices.csv": invoices, "payments.csv": payments}
    import_directory(get_engine(sqlite_url), write(tmp_path, files))

    ledger = load_ledger(get_engine(sqlite_url))
    timeline = invoice_timeline(ledger).invoices.set_index("invoice_id")
    assert timeline.loc["I1", "settled_date"] == day("2024-03-01")
    assert not timeline.loc["I1", "first_paid_partial"]
    # Known once the invoice is: a prepayment travels with its invoice in an as-of cut.
    assert len(ledger.before(datetime.date(2024, 3, 1)).payments) == 0
    assert len(ledger.before(datetime.date(2024, 3, 2)).payments) == 1
    rows = build_open_invoice_rows(ledger, as_of=datetime.date(2024, 3, 10))
    assert rows["invoice_id"].tolist() == ["I2"]
    assert rows["open_amount"].tolist() == pytest.approx([50.0])


def test_line_item_attributes_take_the_first_value_and_skip_credit_notes(
    sqlite_url: str, tmp_path: Path
) -> None:
    mapping = (
        MAPPING + '[invoices.attributes]\nchannel = { column = "Channel", kind = "category" }\n'
    )
    rows = HEADER.replace("\n", ",Channel\n") + (
        "1001,C1,Acme Inc,01/05/2024,,60.00,100.00,02/01/2024,Net 30,Sent,,\n"
        "1001,C1,,01/05/2024,,40.00,0,,,Sent,,web\n"  # the first channel given
        "1001,C1,,01/05/2024,,0.00,0,,,Sent,,paper\n"
        "1003,C2,,01/12/2024,,-50.00,,,Due on receipt,Sent,1001,email\n"  # a credit note
    )
    folder = write(tmp_path, {"lines.csv": rows, "mapping.toml": mapping})
    run(sqlite_url, folder)

    with get_engine(sqlite_url).connect() as conn:
        values = pd.read_sql("SELECT invoice_id, value_text FROM invoice_attributes", conn)
    assert values.set_index("invoice_id")["value_text"].to_dict() == {"1001": "web"}
