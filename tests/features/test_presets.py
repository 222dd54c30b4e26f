"""Presets: each vendor's export, written as the vendor writes it, imports with no mapping.

Every fixture uses only the columns the preset's header comment documents, made-up
values, and money and dates in the vendor's own spelling; the import reads the folder
with `preset_path(name)` and nothing else. Run on SQLite and on PostgreSQL (`db_url`).
This module holds the Xero, QuickBooks and Zoho presets and the helpers;
test_presets_erp.py the Invoice Ninja, Odoo and SAP ones.
"""

from __future__ import annotations

import datetime as dt
import numbers
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from features.importing import ImportSummary, import_directory
from features.presets import PRESETS, list_presets, preset_path
from features.store import get_engine
from kernel.config import get_settings
from kernel.errors import ConfigurationError

D = dt.datetime


def run_preset(
    url: str, directory: Path, name: str, monkeypatch: pytest.MonkeyPatch, currency: str
) -> ImportSummary:
    """Import `directory` with the preset only, amounts kept in the export's currency."""
    monkeypatch.setenv("DUECAST_BASE_CURRENCY", currency)
    get_settings.cache_clear()
    return import_directory(get_engine(url), directory, mapping=preset_path(name))


def stored(url: str) -> dict[str, pd.DataFrame]:
    """The store's customers, invoices, payments and adjustments, indexed by key."""
    keys = {
        "customers": "customer_id",
        "invoices": "invoice_id",
        "payments": "payment_id",
        "adjustments": "adjustment_id",
    }
    with get_engine(url).connect() as conn:
        return {
            table: pd.read_sql(sa.text(f"SELECT * FROM {table}"), conn).set_index(key).sort_index()
            for table, key in keys.items()
        }


def rows(frame: pd.DataFrame, *columns: str) -> dict[str, tuple[Any, ...]]:
    """key -> the columns' values, dates as ISO text and money rounded to cents."""

    def plain(value: Any) -> Any:
        if isinstance(value, dt.date | pd.Timestamp):
            return str(value)[:10]
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if isinstance(value, numbers.Number):  # Decimal, numpy ints: compare as money
            return round(float(value), 2)
        return value

    return {str(key): tuple(plain(frame.at[key, c]) for c in columns) for key in frame.index}


def open_balances(store: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Invoice amount less its payments and adjustments, per invoice."""
    paid = store["payments"].groupby("invoice_id")["amount"].sum()
    adjusted = store["adjustments"].groupby("invoice_id")["amount"].sum()
    invoices = store["invoices"]["amount"]
    balance = invoices - paid.reindex(invoices.index, fill_value=0.0)
    balance -= adjusted.reindex(invoices.index, fill_value=0.0)
    return {str(k): round(float(v), 2) for k, v in balance.items()}


def write_xlsx(path: Path, sheet: str, lines: list[list[Any]]) -> None:
    """A one-sheet workbook; datetime values become Excel date cells."""
    book = Workbook()
    page = book.active
    assert page is not None
    page.title = sheet
    for line in lines:
        page.append(line)
    book.save(path)


def test_every_preset_is_listed_with_its_files() -> None:
    presets = {p.name: p for p in list_presets()}
    assert (
        set(presets)
        == set(PRESETS)
        == {
            "xero",
            "quickbooks",
            "zoho",
            "invoice_ninja",
            "odoo",
            "sap_fi",
        }
    )
    assert presets["odoo"].files == ("account.move.xlsx", "account.payment.xlsx")
    assert presets["sap_fi"].files == ("customer_items.csv",)
    assert all(p.path.is_file() and p.description for p in presets.values())


def test_unknown_preset_names_the_presets() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown preset 'sage'.*odoo.*xero"):
        preset_path("sage")


# fmt: off
XERO_SUMMARY: list[list[Any]] = [
    ["Receivable Invoice Summary"],
    ["Kiwi Tools Ltd"],
    ["For the period 1 January 2024 to 31 March 2024"],
    [],
    ["Invoice Date", "Invoice Number", "Contact", "Reference", "Due Date",
     "Invoice Total", "Paid", "Due", "Last Payment Date", "Status", "Currency"],
    [D(2024, 1, 5), "INV-0001", "Harbour Cafe", None, D(2024, 2, 4),
     1150.0, 1150.0, 0.0, D(2024, 2, 1), "Paid", "NZD"],
    [D(2024, 1, 10), "INV-0002", "Harbour Cafe", "PO 77", D(2024, 2, 9),
     2300.5, 1000.0, 1300.5, D(2024, 2, 20), "Awaiting Payment", "NZD"],
    [D(2024, 1, 12), "INV-0003", "Summit Builders", None, D(2024, 2, 11),
     575.0, 0.0, 575.0, None, "Awaiting Payment", "NZD"],
    [D(2024, 1, 15), "INV-0004", "Summit Builders", None, D(2024, 2, 14),
     800.0, 0.0, 0.0, None, "Voided", "NZD"],
    [D(2024, 1, 20), "INV-0005", "Summit Builders", None, D(2024, 2, 19),
     99.0, 0.0, 99.0, None, "Draft", "NZD"],
    [D(2024, 2, 1), "CN-0001", "Summit Builders", "INV-0003", None,
     -75.0, 0.0, -75.0, None, "Awaiting Payment", "NZD"],
    ["Total", None, None, None, None, 4849.5, 2150.0, 1899.5, None, None, None],
]
# fmt: on


def test_xero_receivable_invoice_summary(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Title lines, a Total row, a draft, a void and a credit note, in an Excel workbook."""
    write_xlsx(
        tmp_path / "Receivable Invoice Summary.xlsx", "Receivable Invoice Summary", XERO_SUMMARY
    )
    run_preset(db_url, tmp_path, "xero", monkeypatch, "NZD")

    store = stored(db_url)
    assert rows(store["invoices"], "customer_id", "issue_date", "due_date", "amount", "voided") == {
        "INV-0001": ("Harbour Cafe", "2024-01-05", "2024-02-04", 1150.0, False),
        "INV-0002": ("Harbour Cafe", "2024-01-10", "2024-02-09", 2300.5, False),
        "INV-0003": ("Summit Builders", "2024-01-12", "2024-02-11", 575.0, False),
        "INV-0004": ("Summit Builders", "2024-01-15", "2024-02-14", 800.0, True),
    }
    assert rows(store["payments"], "invoice_id", "payment_date", "amount") == {
        "PAID-INV-0001": ("INV-0001", "2024-02-01", 1150.0),
        "PAID-INV-0002": ("INV-0002", "2024-02-20", 1000.0),
    }
    assert rows(store["adjustments"], "invoice_id", "date", "amount", "kind") == {
        "CN-CN-0001": ("INV-0003", "2024-02-01", 75.0, "credit_note"),
    }
    assert rows(store["customers"], "name", "created_at", "currency") == {
        "Harbour Cafe": ("Harbour Cafe", "2024-01-05", "NZD"),
        "Summit Builders": ("Summit Builders", "2024-01-12", "NZD"),
    }
    balances = open_balances(store)
    assert (balances["INV-0001"], balances["INV-0002"], balances["INV-0003"]) == (
        0.0,
        1300.5,
        500.0,
    )


QUICKBOOKS_INVOICE_LIST = """\
Invoice List
Pacific Parts Inc.
All Dates

Date,Transaction Type,Num,Customer,Memo/Description,Due Date,Terms,Amount,Open Balance,Last Modified
01/05/2024,Invoice,1001,Bayside Bikes,,02/04/2024,Net 30,"$1,020.00",$0.00,02/01/2024 10:15:00 AM
01/09/2024,Invoice,1002,Bayside Bikes,Spring,,Net 15,"$2,500.00","$1,500.00",01/30/2024 04:05:10 PM
01/12/2024,Invoice,1003,Cedar Clinic,,,Due on receipt,$480.00,$480.00,01/12/2024 09:00:00 AM
01/15/2024,Invoice,1004,Cedar Clinic,Voided,02/14/2024,Net 30,$0.00,$0.00,01/16/2024 11:00:00 AM
01/30/2024,Payment,,Bayside Bikes,,,,"-$1,000.00",$0.00,01/30/2024 04:05:10 PM
TOTAL,,,,,,,"$3,000.00","$1,980.00",
"""


def test_quickbooks_invoice_list(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Invoice List.csv").write_text(QUICKBOOKS_INVOICE_LIST, encoding="utf-8")
    run_preset(db_url, tmp_path, "quickbooks", monkeypatch, "USD")

    store = stored(db_url)
    # 1002 and 1003 have no due date: Date + Net 15, and Date + 0 for "Due on receipt".
    assert rows(store["invoices"], "customer_id", "issue_date", "due_date", "amount", "voided") == {
        "1001": ("Bayside Bikes", "2024-01-05", "2024-02-04", 1020.0, False),
        "1002": ("Bayside Bikes", "2024-01-09", "2024-01-24", 2500.0, False),
        "1003": ("Cedar Clinic", "2024-01-12", "2024-01-12", 480.0, False),
        # QuickBooks zeroes a voided invoice's amount; the invoice is kept, marked void.
        "1004": ("Cedar Clinic", "2024-01-15", "2024-02-14", 0.0, True),
    }
    assert rows(store["payments"], "invoice_id", "payment_date", "amount") == {
        "PAID-1001": ("1001", "2024-02-01", 1020.0),
        "PAID-1002": ("1002", "2024-01-30", 1000.0),
    }
    assert store["adjustments"].empty
    assert sorted(store["customers"]["name"]) == ["Bayside Bikes", "Cedar Clinic"]
    balances = open_balances(store)
    assert (balances["1001"], balances["1002"], balances["1003"]) == (0.0, 1500.0, 480.0)


ZOHO_INVOICES = """\
Invoice Date,Invoice ID,Invoice Number,Invoice Status,Customer ID,Customer Name,Due Date,\
Currency Code,Payment Terms Label,Item Name,Item Total,Total,Balance,Last Payment Date
2024-01-08,4600000001,INV-000001,Paid,4600000101,Lotus Interiors,2024-02-07,USD,Net 30,\
Design hours,600.00,1100.00,0.00,2024-02-10
2024-01-08,4600000001,INV-000001,Paid,4600000101,Lotus Interiors,2024-02-07,USD,Net 30,\
Fabric,400.00,1100.00,0.00,2024-02-10
2024-01-11,4600000002,INV-000002,PartiallyPaid,4600000102,"Mesa Dental, PC",,USD,Net 45,\
Chairs,750.00,750.00,250.00,2024-02-15
2024-01-15,4600000003,INV-000003,Void,4600000102,"Mesa Dental, PC",2024-02-14,USD,Net 30,\
Lamps,200.00,300.00,300.00,
2024-01-15,4600000003,INV-000003,Void,4600000102,"Mesa Dental, PC",2024-02-14,USD,Net 30,\
Shades,100.00,300.00,300.00,
2024-01-20,4600000004,INV-000004,Draft,4600000101,Lotus Interiors,2024-02-19,USD,Net 30,\
Rugs,90.00,90.00,90.00,
"""


def test_zoho_invoice_export_line_items(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Invoice.csv").write_text(ZOHO_INVOICES, encoding="utf-8")
    run_preset(db_url, tmp_path, "zoho", monkeypatch, "USD")

    store = stored(db_url)
    # The Total (tax included) once per invoice, not the items summed or Total twice.
    assert rows(store["invoices"], "customer_id", "issue_date", "due_date", "amount", "voided") == {
        "INV-000001": ("4600000101", "2024-01-08", "2024-02-07", 1100.0, False),
        "INV-000002": ("4600000102", "2024-01-11", "2024-02-25", 750.0, False),
        "INV-000003": ("4600000102", "2024-01-15", "2024-02-14", 300.0, True),
    }
    assert rows(store["payments"], "invoice_id", "payment_date", "amount") == {
        "PAID-INV-000001": ("INV-000001", "2024-02-10", 1100.0),
        "PAID-INV-000002": ("INV-000002", "2024-02-15", 500.0),
    }
    assert rows(store["customers"], "name", "created_at") == {
        "4600000101": ("Lotus Interiors", "2024-01-08"),
        "4600000102": ("Mesa Dental, PC", "2024-01-11"),
    }
    assert open_balances(store)["INV-000002"] == 250.0


def test_presets_ship_with_the_package() -> None:
    """A pip-installed duecast has the TOML files: they are declared package data."""
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "presets/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["features"]
    assert {p.path.parent.name for p in list_presets()} == {"presets"}
