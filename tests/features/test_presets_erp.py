"""Presets for Invoice Ninja, Odoo and SAP FI: the vendor's files in, the ledger out.

Same approach as test_presets.py (whose helpers these tests use): fixtures in the
vendor's documented layout, imported with the preset alone, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.features.test_presets import open_balances, rows, run_preset, stored, write_xlsx

D = dt.datetime

NINJA_INVOICES = """\
Client Name,Invoice Number,Invoice Amount,Invoice Balance,Invoice Paid to Date,Invoice Date,\
Invoice Due Date,Invoice Status
Northwind Studio,0001,"$1,020.00",$0.00,"$1,020.00",2024-02-01,2024-03-02,Paid
Northwind Studio,0002,"$3,400.00","$2,400.00","$1,000.00",2024-02-05,2024-03-06,Partial
Oak & Iron,0003,$560.00,$560.00,$0.00,2024-02-07,2024-02-21,Sent
Oak & Iron,0004,$300.00,$0.00,$0.00,2024-02-08,2024-03-09,Cancelled
Oak & Iron,0005,$45.00,$45.00,$0.00,2024-02-09,2024-03-10,Draft
"""

NINJA_PAYMENTS = """\
Payment Number,Client Name,Invoice Number,Payment Date,Payment Amount
0001,Northwind Studio,0001,2024-02-28,"$1,020.00"
0002,Northwind Studio,0002,2024-03-10,"$1,000.00"
"""


def test_invoice_ninja_invoices_and_payments(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "invoices.csv").write_text(NINJA_INVOICES, encoding="utf-8")
    (tmp_path / "payments.csv").write_text(NINJA_PAYMENTS, encoding="utf-8")
    run_preset(db_url, tmp_path, "invoice_ninja", monkeypatch, "USD")

    store = stored(db_url)
    assert rows(store["invoices"], "customer_id", "issue_date", "due_date", "amount", "voided") == {
        "0001": ("Northwind Studio", "2024-02-01", "2024-03-02", 1020.0, False),
        "0002": ("Northwind Studio", "2024-02-05", "2024-03-06", 3400.0, False),
        "0003": ("Oak & Iron", "2024-02-07", "2024-02-21", 560.0, False),
        "0004": ("Oak & Iron", "2024-02-08", "2024-03-09", 300.0, True),
    }
    assert rows(store["payments"], "invoice_id", "customer_id", "payment_date", "amount") == {
        "0001": ("0001", "Northwind Studio", "2024-02-28", 1020.0),
        "0002": ("0002", "Northwind Studio", "2024-03-10", 1000.0),
    }
    assert rows(store["customers"], "name", "created_at") == {
        "Northwind Studio": ("Northwind Studio", "2024-02-01"),
        "Oak & Iron": ("Oak & Iron", "2024-02-07"),
    }
    assert open_balances(store) == {"0001": 0.0, "0002": 2400.0, "0003": 560.0, "0004": 300.0}


# fmt: off
ODOO_MOVES: list[list[Any]] = [
    ["name", "partner_id", "invoice_date", "invoice_date_due", "amount_total_signed",
     "currency_id", "state", "move_type", "reversed_entry_id"],
    ["INV/2024/00001", "Deco Addict", D(2024, 3, 1), D(2024, 3, 31), 1200.0,
     "EUR", "posted", "out_invoice", None],
    ["INV/2024/00002", "Deco Addict", D(2024, 3, 4), D(2024, 4, 3), 3000.0,
     "EUR", "posted", "out_invoice", None],
    ["INV/2024/00003", "Gemini Furniture", D(2024, 3, 6), D(2024, 4, 5), 410.0,
     "EUR", "cancel", "out_invoice", None],
    ["/", "Gemini Furniture", None, None, 95.0, "EUR", "draft", "out_invoice", None],
    ["RINV/2024/00001", "Deco Addict", D(2024, 3, 20), D(2024, 3, 20), -200.0,
     "EUR", "posted", "out_refund", "INV/2024/00002"],
    ["BILL/2024/00001", "Wood Corner", D(2024, 3, 2), D(2024, 4, 1), -700.0,
     "EUR", "posted", "in_invoice", None],
]
ODOO_PAYMENTS: list[list[Any]] = [
    ["name", "date", "partner_id", "amount", "payment_type", "state", "reconciled_invoice_ids"],
    ["PBNK1/2024/00001", D(2024, 3, 28), "Deco Addict", 1200.0, "inbound", "posted",
     "INV/2024/00001"],
    ["PBNK1/2024/00002", D(2024, 4, 10), "Deco Addict", 1000.0, "inbound", "posted",
     "INV/2024/00002"],
    ["PBNK1/2024/00003", D(2024, 4, 12), "Deco Addict", 500.0, "inbound", "draft",
     "INV/2024/00002"],
    ["PBNK1/2024/00004", D(2024, 4, 2), "Wood Corner", 700.0, "outbound", "posted",
     "BILL/2024/00001"],
]
# fmt: on


def test_odoo_account_move_and_payment_workbooks(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drafts, vendor bills and outbound payments are left out; the refund credits INV 2."""
    write_xlsx(tmp_path / "account.move.xlsx", "Sheet1", ODOO_MOVES)
    write_xlsx(tmp_path / "account.payment.xlsx", "Sheet1", ODOO_PAYMENTS)
    run_preset(db_url, tmp_path, "odoo", monkeypatch, "EUR")

    store = stored(db_url)
    assert rows(store["invoices"], "customer_id", "issue_date", "due_date", "amount", "voided") == {
        "INV/2024/00001": ("Deco Addict", "2024-03-01", "2024-03-31", 1200.0, False),
        "INV/2024/00002": ("Deco Addict", "2024-03-04", "2024-04-03", 3000.0, False),
        "INV/2024/00003": ("Gemini Furniture", "2024-03-06", "2024-04-05", 410.0, True),
    }
    assert rows(store["payments"], "invoice_id", "payment_date", "amount") == {
        "PBNK1/2024/00001": ("INV/2024/00001", "2024-03-28", 1200.0),
        "PBNK1/2024/00002": ("INV/2024/00002", "2024-04-10", 1000.0),
    }
    assert rows(store["adjustments"], "invoice_id", "date", "amount", "kind") == {
        "CN-RINV/2024/00001": ("INV/2024/00002", "2024-03-20", 200.0, "credit_note"),
    }
    assert sorted(store["customers"].index) == ["Deco Addict", "Gemini Furniture"]
    balances = open_balances(store)
    assert (balances["INV/2024/00001"], balances["INV/2024/00002"]) == (0.0, 1800.0)


SAP_ITEMS = """\
BUKRS;KUNNR;BELNR;GJAHR;BUZEI;BLDAT;BUDAT;ZFBDT;ZBD1T;AUGDT;AUGBL;BLART;SHKZG;DMBTR;WRBTR;WAERS;REBZG
1000;100017;1800000001;2024;001;05.01.2024;05.01.2024;05.01.2024;30;02.02.2024;1400000001;RV;S;\
1.190,00;1.190,00;EUR;
1000;100017;1400000001;2024;001;02.02.2024;02.02.2024;02.02.2024;0;02.02.2024;1400000001;DZ;H;\
1.190,00;1.190,00;EUR;
1000;100017;1800000002;2024;001;10.01.2024;10.01.2024;10.01.2024;14;;;RV;S;\
2.380,00;2.380,00;EUR;
1000;100017;1400000002;2024;001;20.01.2024;20.01.2024;20.01.2024;0;;;DZ;H;\
1.000,00;1.000,00;EUR;1800000002
1000;100023;1800000003;2024;001;15.01.2024;15.01.2024;15.01.2024;30;;;DR;S;\
595,00;595,00;EUR;
1000;100023;1700000001;2024;001;25.01.2024;25.01.2024;25.01.2024;0;;;DG;H;\
95,00;95,00;EUR;1800000003
"""


def test_sap_fi_open_and_cleared_items(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RV/DR debits are invoices, AUGDT settles them, DZ partials and DG credit memos
    name their invoice in REBZG, and the cleared full payment is not counted twice."""
    (tmp_path / "customer_items.csv").write_text(SAP_ITEMS, encoding="utf-8")
    run_preset(db_url, tmp_path, "sap_fi", monkeypatch, "EUR")

    store = stored(db_url)
    # Due = document date + ZBD1T days.
    assert rows(store["invoices"], "customer_id", "issue_date", "due_date", "amount") == {
        "1800000001": ("100017", "2024-01-05", "2024-02-04", 1190.0),
        "1800000002": ("100017", "2024-01-10", "2024-01-24", 2380.0),
        "1800000003": ("100023", "2024-01-15", "2024-02-14", 595.0),
    }
    assert rows(store["payments"], "invoice_id", "customer_id", "payment_date", "amount") == {
        "1400000002": ("1800000002", "100017", "2024-01-20", 1000.0),
        "SETTLED-1800000001": ("1800000001", "100017", "2024-02-02", 1190.0),
    }
    assert rows(store["adjustments"], "invoice_id", "date", "amount", "kind") == {
        "1700000001": ("1800000003", "2024-01-25", 95.0, "credit_note"),
    }
    assert sorted(store["customers"].index) == ["100017", "100023"]
    assert open_balances(store) == {"1800000001": 0.0, "1800000002": 1380.0, "1800000003": 500.0}

    # The same export again: derived customers and SETTLED- payments come out the same.
    again = run_preset(db_url, tmp_path, "sap_fi", monkeypatch, "EUR")
    assert not again.changed
    assert {name: c.unchanged for name, c in again.tables.items() if c.read} == {
        "customers": 2,
        "invoices": 3,
        "payments": 2,
        "adjustments": 1,
    }
