"""A workbook mixes real date cells (read as ISO text) with dates typed as text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook

from tests.features.test_mapping_v2 import run, stored, write

MAPPING = """
[customers]
from_invoices = true
[invoices]
file = "book.xlsx"
date_format = "%d/%m/%Y"
[invoices.columns]
invoice_id = "No"
customer_id = "Customer"
issue_date = "Date"
due_date = "Due"
amount = "Total"
"""


def test_date_cells_and_day_first_text_dates_both_read(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["No", "Customer", "Date", "Due", "Total"])
    sheet.append(["I1", "C1", dt.datetime(2024, 1, 5), dt.datetime(2024, 2, 4), 100.0])
    sheet.append(["I2", "C1", "06/01/2024", "05/02/2024", 50.0])
    folder = write(tmp_path / "in", {"mapping.toml": MAPPING})
    book.save(folder / "book.xlsx")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    run(url, folder)
    invoices = stored(url, "invoices", "invoice_id")
    assert str(invoices.loc["I1", "issue_date"])[:10] == "2024-01-05"
    assert str(invoices.loc["I2", "issue_date"])[:10] == "2024-01-06"
    assert str(invoices.loc["I2", "due_date"])[:10] == "2024-02-05"
