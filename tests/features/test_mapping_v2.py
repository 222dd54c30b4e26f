"""Mapping v2, which rows a table reads: shared files, sheets, title lines, filters, keys.

Every test imports a small export made here through `import_directory` into a SQLite
store and checks the stored rows (or the problems, by file and line).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

import features.import_sources
from features.importing import ImportSummary, import_directory
from features.readers import RawFile, read_raw
from features.store import get_engine
from kernel.errors import DataImportError

CUSTOMERS = "customer_id,name,created_at\nC1,Acme,2023-01-01\nC2,Brick,2023-02-01\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write text files (one of them mapping.toml) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run(url: str, folder: Path) -> ImportSummary:
    return import_directory(get_engine(url), folder, mapping=folder / "mapping.toml")


def stored(url: str, table: str, key: str) -> pd.DataFrame:
    with get_engine(url).connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {table} ORDER BY {key}"), conn).set_index(key)


def problems(exc: pytest.ExceptionInfo[DataImportError]) -> list[tuple[str, int | None, str]]:
    return [(r.file, r.line, r.reason) for r in exc.value.bad_rows]


LEDGER = (
    "Type,Number,Applies To,Customer,Date,Due,Total,Status\n"
    "Invoice,I1,,C1,2024-01-01,2024-01-31,100.00,Sent\n"
    "Invoice,I2,,C2,2024-01-05,2024-02-04,250.00,Sent\n"
    "Invoice,I3,,C2,2024-01-07,2024-02-06,80.00, Draft \n"
    "Payment,P1,I1,C1,2024-01-20,,100.00,\n"
    "Payment,P2,I2,C2,2024-02-01,,50.00,\n"
)
ROUTING = """
[invoices]
file = "ledger.csv"
[invoices.where]
"Type" = ["Invoice"]
[invoices.where_not]
"Status" = ["Draft"]
[invoices.columns]
invoice_id = "Number"
customer_id = "Customer"
issue_date = "Date"
due_date = "Due"
amount = "Total"

[payments]
file = "ledger.csv"
[payments.where]
"Type" = ["Payment"]
[payments.columns]
payment_id = "Number"
invoice_id = "Applies To"
customer_id = "Customer"
payment_date = "Date"
amount = "Total"
"""


def test_one_file_routed_to_two_tables_by_where(sqlite_url: str, tmp_path: Path) -> None:
    folder = write(
        tmp_path, {"customers.csv": CUSTOMERS, "ledger.csv": LEDGER, "mapping.toml": ROUTING}
    )
    summary = run(sqlite_url, folder)

    invoices = stored(sqlite_url, "invoices", "invoice_id")
    payments = stored(sqlite_url, "payments", "payment_id")
    assert list(invoices.index) == ["I1", "I2"]  # I3 is a draft (trimmed " Draft ")
    assert list(payments.index) == ["P1", "P2"]
    assert payments.loc["P2", "amount"] == pytest.approx(50.0)
    assert summary.files["invoices"] == summary.files["payments"] == ["ledger.csv"]


def test_a_shared_file_is_read_once(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []

    def counting(path: Path, **options: Any) -> RawFile:
        reads.append(path.name)
        return read_raw(path, **options)

    monkeypatch.setattr(features.import_sources, "read_raw", counting)
    files = {"customers.csv": CUSTOMERS, "ledger.csv": LEDGER, "mapping.toml": ROUTING}
    run(sqlite_url, write(tmp_path, files))

    assert sorted(reads) == ["customers.csv", "ledger.csv"]


def test_a_problem_in_a_routed_file_names_its_physical_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    bad = LEDGER.replace("Payment,P2,I2,C2,2024-02-01", "Payment,P2,I2,C2,2024-02-31")
    folder = write(
        tmp_path, {"customers.csv": CUSTOMERS, "ledger.csv": bad, "mapping.toml": ROUTING}
    )
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("ledger.csv", 6)
    assert "'2024-02-31' as a date" in reason


def test_a_filter_column_the_file_lacks_is_named(sqlite_url: str, tmp_path: Path) -> None:
    mapping = ROUTING.replace('"Type" = ["Payment"]', '"Kind" = ["Payment"]')
    folder = write(
        tmp_path, {"customers.csv": CUSTOMERS, "ledger.csv": LEDGER, "mapping.toml": mapping}
    )
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("ledger.csv", None)
    assert "column 'Kind' (in [payments.where]) is missing" in reason


def test_no_payments_file_is_needed(sqlite_url: str, tmp_path: Path) -> None:
    invoices = "invoice_id,customer_id,issue_date,due_date,amount\nI1,C1,2024-01-01,2024-01-31,10\n"
    folder = write(tmp_path, {"customers.csv": CUSTOMERS, "invoices.csv": invoices})
    summary = import_directory(get_engine(sqlite_url), folder)

    assert summary.tables["invoices"].inserted == 1
    assert "payments" not in summary.tables or summary.tables["payments"].read == 0


def test_key_made_of_columns(sqlite_url: str, tmp_path: Path) -> None:
    fees = (
        "School Year,Student,Fee,Billed,Due,Amount\n"
        "2024,C1,Tuition,2024-09-01,2024-09-30,900\n"
        "2024,C1, Trip ,2024-09-01,2024-09-30,50\n"
        "2024,C2,Tuition,2024-09-01,2024-09-30,900\n"
    )
    mapping = """
[invoices]
file = "fees.csv"
key = ["School Year", "Student", "Fee"]
[invoices.columns]
customer_id = "Student"
issue_date = "Billed"
due_date = "Due"
amount = "Amount"
"""
    folder = write(
        tmp_path, {"customers.csv": CUSTOMERS, "fees.csv": fees, "mapping.toml": mapping}
    )
    run(sqlite_url, folder)

    invoices = stored(sqlite_url, "invoices", "invoice_id")
    assert sorted(invoices.index) == ["2024|C1|Trip", "2024|C1|Tuition", "2024|C2|Tuition"]
    assert invoices.loc["2024|C1|Trip", "amount"] == pytest.approx(50.0)


def test_row_key_hashes_the_row_and_reports_identical_rows(sqlite_url: str, tmp_path: Path) -> None:
    row = "C1,2024-03-01,2024-03-31,75.50"
    invoices = f"customer_id,issue_date,due_date,amount\n{row}\nC2,2024-03-02,2024-04-01,10\n"
    mapping = '[invoices]\nkey = "row"\n'
    folder = write(
        tmp_path, {"customers.csv": CUSTOMERS, "invoices.csv": invoices, "mapping.toml": mapping}
    )
    run(sqlite_url, folder)

    expected = "R" + hashlib.sha1(row.replace(",", "\x1f").encode()).hexdigest()[:16]
    assert expected in stored(sqlite_url, "invoices", "invoice_id").index

    (folder / "invoices.csv").write_text(invoices + row + "\n")
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)
    lines = [(r.line, r.column) for r in exc.value.bad_rows]
    assert lines == [(2, "key (row)"), (4, "key (row)")]
    assert all(f"duplicate invoice_id {expected!r}" in r.reason for r in exc.value.bad_rows)


def test_duplicate_header_is_refused_only_when_used(sqlite_url: str, tmp_path: Path) -> None:
    header = "invoice_id,customer_id,issue_date,due_date,amount,Note,Note\n"
    invoices = header + "I1,C1,2024-01-01,2024-01-31,10,a,b\n"
    folder = write(tmp_path, {"customers.csv": CUSTOMERS, "invoices.csv": invoices})
    assert import_directory(get_engine(sqlite_url), folder).tables["invoices"].inserted == 1

    twice = invoices.replace(",Note,Note", ",amount,Note").replace(",a,b", ",11,b")
    (folder / "invoices.csv").write_text(twice)
    with pytest.raises(DataImportError) as exc:
        import_directory(get_engine(sqlite_url), folder)
    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("invoices.csv", 1)
    assert "names column 'amount' more than once" in reason


def test_title_lines_are_skipped_and_lines_stay_physical(sqlite_url: str, tmp_path: Path) -> None:
    invoices = (
        "Open items report\nPrinted 2024-05-01\n"
        "invoice_id,customer_id,issue_date,due_date,amount\n"
        "I1,C1,2024-01-01,2024-01-31,10\n"
        "I2,C1,2024-01-01,2024-01-31,-4\n"
    )
    mapping = "[invoices]\nfile = 'invoices.csv'\nskip_rows = 2\n"
    folder = write(
        tmp_path, {"customers.csv": CUSTOMERS, "invoices.csv": invoices, "mapping.toml": mapping}
    )
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)

    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("invoices.csv", 5)
    assert "not positive" in reason


def test_xlsx_sheet_with_title_rows(sqlite_url: str, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    sheet = book.create_sheet("Open Items")
    sheet.append(["Open items"])
    sheet.append(["Doc", "Cust", "Issued", "Due", "Total"])
    sheet.append(["X1", "C1", "2024-02-01", "2024-03-02", "1,250.50"])
    sheet.append(["X2", "C2", "2024-02-03", "2024-03-04", "$99.00"])
    tmp_path.mkdir(exist_ok=True)
    book.save(tmp_path / "book.xlsx")
    mapping = """
[invoices]
file = "book.xlsx"
sheet = "Open Items"
skip_rows = 1
[invoices.columns]
invoice_id = "Doc"
customer_id = "Cust"
issue_date = "Issued"
due_date = "Due"
amount = "Total"
"""
    folder = write(tmp_path, {"customers.csv": CUSTOMERS, "mapping.toml": mapping})
    run(sqlite_url, folder)

    invoices = stored(sqlite_url, "invoices", "invoice_id")
    assert invoices["amount"].tolist() == pytest.approx([1250.50, 99.0])


def test_money_as_people_write_it(sqlite_url: str, tmp_path: Path) -> None:
    invoices = (
        "invoice_id;customer_id;issue_date;due_date;amount\n"
        "I1;C1;2024-01-01;2024-01-31;1.234,50 €\n"
        "I2;C1;2024-01-01;2024-01-31;EUR 7,5\n"
        "I3;C1;2024-01-01;2024-01-31;zwölf\n"
    )
    mapping = "[invoices]\ndelimiter = ';'\ndecimal = ','\n"
    folder = write(
        tmp_path, {"customers.csv": CUSTOMERS, "invoices.csv": invoices, "mapping.toml": mapping}
    )
    with pytest.raises(DataImportError) as exc:
        run(sqlite_url, folder)
    ((file, line, reason),) = problems(exc)
    assert (file, line) == ("invoices.csv", 4)
    assert "cannot read 'zwölf' as an amount" in reason

    (folder / "invoices.csv").write_text(invoices.rsplit("I3", 1)[0])
    run(sqlite_url, folder)
    amounts = stored(sqlite_url, "invoices", "invoice_id")["amount"]
    assert amounts.tolist() == pytest.approx([1234.50, 7.5])
