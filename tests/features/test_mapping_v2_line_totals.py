"""Line items that repeat the invoice's figures on every line: totals and paid amounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.mapping import parse_mapping
from kernel.errors import MappingError
from tests.features.test_mapping_v2 import run, stored, write

# Every line repeats the invoice's Total, Amount Paid and Balance (as Zoho writes them).
EXPORT = (
    "Invoice Number,Customer ID,Customer Name,Invoice Date,Due Date,Item Total,Total,"
    "Amount Paid,Last Payment\n"
    "INV-1,C1,Acme,2024-01-05,2024-02-04,600.00,1000.00,400.00,2024-02-10\n"
    "INV-1,C1,Acme,2024-01-05,2024-02-04,400.00,1000.00,400.00,2024-02-10\n"
    "INV-2,C2,Brick,2024-01-09,2024-02-08,250.00,250.00,,\n"
)


def _mapping(amount: str, totals: str | None) -> str:
    line_totals = "" if totals is None else f'line_totals = "{totals}"\n'
    return (
        "[customers]\nfrom_invoices = true\n[invoices]\n"
        f'file = "lines.csv"\nlines = true\n{line_totals}customer_name = "Customer Name"\n'
        'paid_amount = "Amount Paid"\nlast_payment_date = "Last Payment"\n'
        '[invoices.columns]\ninvoice_id = "Invoice Number"\ncustomer_id = "Customer ID"\n'
        f'issue_date = "Invoice Date"\ndue_date = "Due Date"\namount = "{amount}"\n'
    )


@pytest.mark.parametrize(("amount", "totals"), [("Item Total", None), ("Total", "repeated")])
def test_the_paid_amount_written_on_every_line_is_counted_once(
    tmp_path: Path, amount: str, totals: str | None
) -> None:
    folder = write(tmp_path, {"lines.csv": EXPORT, "mapping.toml": _mapping(amount, totals)})
    url = f"sqlite:///{tmp_path / 'store.db'}"
    run(url, folder)
    invoices = stored(url, "invoices", "invoice_id")
    assert invoices.loc["INV-1", "amount"] == 1000.0
    assert invoices.loc["INV-2", "amount"] == 250.0
    payments = stored(url, "payments", "payment_id")
    assert list(payments.index) == ["PAID-INV-1"]
    assert payments.loc["PAID-INV-1", "amount"] == 400.0


def test_line_totals_is_checked() -> None:
    with pytest.raises(MappingError, match='line_totals must be "sum" or "repeated"'):
        parse_mapping({"invoices": {"lines": True, "line_totals": "each"}})
    with pytest.raises(MappingError, match="only read with lines = true"):
        parse_mapping({"invoices": {"line_totals": "repeated"}})
