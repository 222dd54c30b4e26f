"""Mapping files: validation with clear errors, and a foreign-format export end to end."""

from __future__ import annotations

import logging
import re
import textwrap
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import features.mapping
from features.importing import import_directory
from features.mapping import apply_mapping, load_mapping, parse_mapping
from features.readers import RawFile
from features.store import get_engine
from kernel.errors import DataImportError, MappingError


def test_documented_example_is_a_valid_mapping() -> None:
    doc = features.mapping.__doc__
    assert doc is not None
    example = textwrap.dedent(doc.split("A complete example::", 1)[1].split("\n\n`settled")[0])

    mapping = parse_mapping(tomllib.loads(example))

    invoices = mapping.for_table("invoices")
    assert invoices.source_column("invoice_id") == "Doc No"
    assert invoices.date_format_for("due_date") == "%d/%m/%Y"
    assert invoices.date_format_for("issue_date") == "%d.%m.%Y"
    assert invoices.values["disputed"] == {"Yes": "true", "No": "false"}
    assert mapping.derives_payments
    assert mapping.for_table("customers").defaults == {"currency": "EUR"}
    assert mapping.for_table("payments").candidate_files() == ["payments.csv", "payments.parquet"]


def _documented_examples() -> dict[str, str]:
    """Every "Example: ...::" block of the reference, by its title."""
    doc = features.mapping.__doc__
    assert doc is not None
    examples = {}
    for part in doc.split("\nExample: ")[1:]:
        title, body = part.split("::\n", 1)
        examples[title] = textwrap.dedent("\n\n".join(_leading_block(body.lstrip("\n"))))
        assert examples[title].strip(), title
    return examples


def _leading_block(body: str) -> list[str]:
    """The indented paragraphs right after "::" (the example), up to the next prose."""
    out = []
    for paragraph in body.split("\n\n"):
        if paragraph.strip() and not paragraph.startswith("    "):
            break
        out.append(paragraph)
    return out


def test_every_documented_capability_example_is_a_valid_mapping() -> None:
    examples = _documented_examples()
    assert len(examples) == 4

    parsed = {title: parse_mapping(tomllib.loads(text)) for title, text in examples.items()}

    routed = parsed["an Excel workbook, title lines, rows routed by type"]
    invoices, payments = routed.for_table("invoices"), routed.for_table("payments")
    assert (invoices.file, invoices.sheet, invoices.skip_rows) == ("ledger.xlsx", "Transactions", 2)
    assert invoices.where == {"Type": ("Invoice",)} and payments.where == {"Type": ("Payment",)}
    assert invoices.where_not == {"Status": ("Draft",)}
    keyed = parsed["ids made from several columns (no id column in the export)"]
    assert keyed.for_table("invoices").key == ("School Year", "Student", "Fee")
    assert keyed.for_table("payments").row_key
    lines = parsed[
        "line items, credit notes, paid amounts, terms, voids and customers from invoices"
    ]
    inv = lines.for_table("invoices")
    assert inv.lines and inv.negative == "credit_note" and inv.credit_for == "Applied To"
    assert (inv.paid_amount, inv.balance, inv.last_payment_date) == (
        "Amount Paid",
        "Balance Due",
        "Last Payment",
    )
    assert inv.terms_codes == {"Due on receipt": 0, "NAA8": 30} and inv.terms_days == 30
    assert (inv.void_column, inv.void_values) == ("Status", ("Void", "Cancelled"))
    assert inv.date_format_for("last_payment_date") == "%m/%d/%Y"
    assert lines.derives_customers and lines.derives_payments
    money = parsed["money as people write it"].for_table("invoices")
    assert (money.decimal, money.thousands) == (",", ".")


def test_no_mapping_is_the_canonical_format() -> None:
    mapping = load_mapping(None)
    assert not mapping.derives_payments
    assert mapping.for_table("invoices").source_column("amount") == "amount"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[bills]\nfile = 'x.csv'", "unknown table or option 'bills'"),
        ("[invoices]\nsheets = 'x'", "unknown key(s) 'sheets'"),
        ("[invoices.columns]\ninvoice_no = 'Doc No'", "unknown canonical column(s) 'invoice_no'"),
        ("[invoices.columns]\ninvoice_id = 7", "invoice_id must be a non-empty string"),
        ("[invoices.values.disputed]\nYes = 'true'", "must be true or false"),
        ("[invoices.values.amount]\nnone = 'zero'", "must be a number"),
        ("[invoices.values.nope]\na = 'b'", "unknown canonical column(s) 'nope'"),
        ("[invoices.values]\ndisputed = 'Yes'", "must map their values to ours"),
        ("[invoices]\ndate_format = '%Y'", "does not name day, month and year"),
        ("[invoices]\ndate_format = 'dd.mm.yyyy'", "does not name day, month and year"),
        ("[invoices.date_formats]\namount = '%d.%m.%Y'", "'amount' is not a date column"),
        ("[invoices]\ndelimiter = ';;'", "delimiter must be one character"),
        ("[invoices]\nencoding = 'klingon'", "unknown encoding 'klingon'"),
        ("[invoices]\ndecimal = ';'", 'decimal must be "." or ","'),
        ("[invoices]\nfile = 'x.xls'", "must end in one of .csv"),
        ("[invoices]\nfile = 'x.csv'\nsheet = 'S'", "sheet is only read from an .xlsx file"),
        ("[invoices]\nfile = 'x.xlsx'\nsheet = -1", "sheet must be a sheet name"),
        ("[invoices]\nskip_rows = -2", "skip_rows must be a whole number from 0"),
        ("[invoices.where]\nType = 'x'\nStatus = []", "'Status' must be a non-empty list of texts"),
        ("[invoices]\nwhere = 3", "where must be a table of column = [values]"),
        ("[invoices]\nkey = 'rows'", 'key must be "row" or a list of distinct column names'),
        ("[invoices]\nkey = ['A', 'A']", "key must be"),
        (
            "[invoices]\nkey = ['A']\n[invoices.columns]\ninvoice_id = 'No'",
            "key generates the invoices id, so it cannot also be mapped",
        ),
        ("[invoices]\nlines = 'yes'", "lines must be true or false"),
        ("[invoices]\nnegative = 'ignore'", 'negative must be "reject" or "credit_note"'),
        ("[invoices]\ncredit_for = 'Ref'", 'credit_for is only read with negative = "credit_note"'),
        ("[invoices]\nlast_payment_date = 'Paid On'", "last_payment_date needs paid_amount or"),
        ("[invoices]\npaid_amount = ''", "paid_amount must be a non-empty string"),
        ("[invoices]\nterms_days = 1000", "terms_days must be a whole number from 0 to"),
        ("[invoices.terms_codes]\nNet30 = 'thirty'", "Net30 must be a whole number"),
        ("[invoices]\nvoid = 'Void'", 'void must be { column = "Status", values'),
        ("[invoices]\nvoid = { column = 'S', values = [] }", "void must be"),
        ("[payments]\nlines = true", "lines is only meaningful for [invoices]"),
        ("[invoices]\nfrom_invoices = true", "from_invoices is only meaningful for [customers]"),
        (
            "[customers]\nfrom_invoices = true\nfile = 'c.csv'",
            "from_invoices = true reads no customers file, so 'file' cannot be used",
        ),
        ("[invoices.date_formats]\npaid_amount = '%d.%m.%Y'", "'paid_amount' is not a date"),
        ("[payments]\nsettled_date = 'Paid'", "settled_date is only meaningful for [invoices]"),
        ("[customers.defaults]\ncredit_limit = 'lots'", "must be a number"),
    ],
)
def test_bad_mappings_are_explained(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "map.toml"
    path.write_text(toml)
    with pytest.raises(MappingError, match=re.escape(message)):
        load_mapping(path)


def test_unreadable_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[invoices\nfile = ")
    with pytest.raises(MappingError, match="not a valid TOML file"):
        load_mapping(tmp_path / "bad.toml")


def test_apply_renames_maps_values_and_reports_mapped_columns_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mapping = parse_mapping(
        {
            "invoices": {
                "decimal": ",",
                "thousands": ".",
                "columns": {"invoice_id": "Doc No", "amount": "Betrag", "disputed": "Strittig"},
                "values": {"disputed": {"Ja": True, "Nein": False}},
                "defaults": {"currency": "EUR"},
            }
        }
    ).for_table("invoices")
    frame = pd.DataFrame(
        {"Doc No": ["A1", "A2"], "Betrag": ["1.234,50", " 7,5 "], "Unused": ["x", "y"]},
        index=[2, 3],
        dtype="str",
    )
    with caplog.at_level(logging.INFO, logger="features.mapping"):
        mapped = apply_mapping(RawFile("op.csv", Path("op.csv"), "csv", frame), mapping)

    assert mapped.frame["amount"].tolist() == ["1234.50", "7.5"]
    assert mapped.frame["currency"].tolist() == ["EUR", "EUR"]
    assert "disputed" not in mapped.frame.columns
    missing = {(p.line, p.column) for p in mapped.problems}
    assert missing == {
        (None, "customer_id"),
        (None, "issue_date"),
        (None, "due_date"),
        (None, "Strittig"),
    }
    strittig = next(p for p in mapped.problems if p.column == "Strittig")
    assert "column 'Strittig' (mapped to disputed) is missing" in strittig.reason
    assert "Doc No, Betrag, Unused" in strittig.reason
    ignored = [r.getMessage() for r in caplog.records if "ignoring column" in r.getMessage()]
    assert ignored == ["op.csv: ignoring column(s) not in the invoices table: Unused"]


# ------------------------------------------------------------------ end to end

MAPPING = """
[customers]
file = "debitoren.csv"
delimiter = ";"
encoding = "latin-1"
date_format = "%d.%m.%Y"
[customers.columns]
customer_id = "Debitor"
name = "Name"
created_at = "Angelegt"

[invoices]
file = "open_items.csv"
delimiter = ";"
encoding = "latin-1"
date_format = "%d.%m.%Y"
decimal = ","
thousands = "."
settled_date = "Clearing Date"
[invoices.columns]
invoice_id = "Doc No"
customer_id = "Customer"
issue_date = "Doc Date"
due_date = "Net Due"
amount = "Amount"
disputed = "In Dispute"
[invoices.values.disputed]
"Yes" = true
"No" = false
[invoices.defaults]
currency = "EUR"
"""


def foreign_export(folder: Path, *, invoices: int = 12, bad_settlement: bool = False) -> Path:
    """A German-style ERP export: ';', latin-1, dd.mm.yyyy, decimal comma, Yes/No."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    debtors = (
        "Debitor;Name;Angelegt;Branche\n"
        "K1;Müller GmbH;01.02.2020;Bau\n"
        "K2;Bäckerei Groß;15.06.2021;Handel\n"
    )
    (folder / "debitoren.csv").write_bytes(debtors.encode("latin-1"))
    rows = ["Doc No;Customer;Doc Date;Net Due;Amount;In Dispute;Clearing Date;Währung"]
    for i in range(invoices):
        day = 1 + i
        cleared = f"{day + 10:02d}.04.2024" if i % 3 else ""  # every third one still open
        if bad_settlement and i == 4:
            cleared = "32.01.2024"  # not a date: line 6
        amount = f"{1000 + 250 * i:,}".replace(",", ".") + f",{i:02d}"
        rows.append(
            f"R-{i};K{1 + i % 2};{day:02d}.03.2024;{day:02d}.04.2024;{amount};"
            f"{'Yes' if i == 2 else 'No'};{cleared};EUR"
        )
    (folder / "open_items.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("latin-1"))
    return folder


def test_foreign_export_with_settled_dates_imports_end_to_end(db_url: str, tmp_path: Path) -> None:
    folder = foreign_export(tmp_path / "erp")
    engine = get_engine(db_url)

    summary = import_directory(engine, folder, mapping=folder / "mapping.toml")

    assert summary.tables["customers"].inserted == 2
    assert summary.tables["invoices"].inserted == 12
    assert summary.tables["payments"].inserted == 8  # the settled ones
    assert summary.files["payments"] == ["open_items.csv"]
    with engine.connect() as conn:
        inv = pd.read_sql(sa.text("SELECT * FROM invoices ORDER BY invoice_id"), conn)
        pay = pd.read_sql(sa.text("SELECT * FROM payments ORDER BY payment_id"), conn)
        names = set(pd.read_sql(sa.text("SELECT name FROM customers"), conn)["name"])
    assert names == {"Müller GmbH", "Bäckerei Groß"}
    r4 = inv.set_index("invoice_id").loc["R-4"]
    assert r4["amount"] == pytest.approx(2000.04)
    assert pd.Timestamp(r4["issue_date"]) == pd.Timestamp("2024-03-05")
    assert pd.Timestamp(r4["due_date"]) == pd.Timestamp("2024-04-05")
    assert r4["currency"] == "EUR"
    assert inv.set_index("invoice_id")["disputed"].astype(bool).sum() == 1
    p4 = pay.set_index("payment_id").loc["SETTLED-R-4"]
    assert (p4["invoice_id"], p4["customer_id"]) == ("R-4", "K1")
    assert p4["amount"] == pytest.approx(2000.04)
    assert pd.Timestamp(p4["payment_date"]) == pd.Timestamp("2024-04-15")

    again = import_directory(engine, folder, mapping=folder / "mapping.toml")
    assert not again.changed
    assert again.tables["payments"].unchanged == 8


def test_derived_payment_problems_point_at_the_invoice_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    folder = foreign_export(tmp_path / "erp", bad_settlement=True)
    with pytest.raises(DataImportError) as exc:
        import_directory(get_engine(sqlite_url), folder, mapping=folder / "mapping.toml")

    (row,) = exc.value.bad_rows
    assert (row.file, row.line, row.column) == ("open_items.csv", 6, "Clearing Date")
    assert "cannot read '32.01.2024' as a date" in row.reason


@pytest.mark.parametrize("customer", [b"K1", b"K2"])
def test_duplicate_settled_invoice_is_reported_once(
    sqlite_url: str, tmp_path: Path, customer: bytes
) -> None:
    folder = foreign_export(tmp_path / "erp")
    path = folder / "open_items.csv"
    lines = path.read_bytes().split(b"\r\n")
    # R-4 (line 6, customer K1, settled) exported again on line 14, as is or for K2.
    again = lines[5].replace(b";K1;", b";" + customer + b";")
    path.write_bytes(b"\r\n".join([*lines[:-1], again, b""]))
    with pytest.raises(DataImportError) as exc:
        import_directory(get_engine(sqlite_url), folder, mapping=folder / "mapping.toml")

    rows = [(r.file, r.line, r.column) for r in exc.value.bad_rows]
    assert rows == [("open_items.csv", 6, "Doc No"), ("open_items.csv", 14, "Doc No")]
    assert all("duplicate invoice_id 'R-4'" in r.reason for r in exc.value.bad_rows)
    assert exc.value.total == 2


def test_without_the_mapping_the_foreign_files_are_named_as_missing(
    sqlite_url: str, tmp_path: Path
) -> None:
    folder = foreign_export(tmp_path / "erp")
    with pytest.raises(DataImportError, match="missing required file"):
        import_directory(get_engine(sqlite_url), folder)
