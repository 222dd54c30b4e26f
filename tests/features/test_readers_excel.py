"""Reading .xlsx sheets: text like CSV, sheet row numbers, sheets by name or index."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from features.readers import EXCEL_SUFFIXES, file_format, read_raw
from kernel.errors import DataImportError


def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


INVOICES: list[list[Any]] = [
    ["Invoice", "Issued", "Amount", "Paid", "Note"],
    ["A1", dt.date(2024, 1, 31), 1020.5, True, "first"],
    ["A2", dt.datetime(2024, 2, 1), 30.0, False, None],
    [1001, dt.datetime(2024, 2, 2, 8, 30), 1020.4999999999999, None, "  spaced "],
]


def test_cells_come_back_as_text_like_a_csv_export(tmp_path: Path) -> None:
    raw = read_raw(workbook(tmp_path / "book.xlsx", {"Invoices": INVOICES}))

    assert raw.format == "xlsx" and raw.name == "book.xlsx[Invoices]"
    assert list(raw.frame.columns) == ["Invoice", "Issued", "Amount", "Paid", "Note"]
    assert raw.frame.to_dict("list") == {
        "Invoice": ["A1", "A2", "1001"],  # a numeric id reads as its digits
        "Issued": ["2024-01-31", "2024-02-01", "2024-02-02T08:30:00"],
        "Amount": ["1020.5", "30", "1020.5"],  # no float noise
        "Paid": ["TRUE", "FALSE", ""],
        "Note": ["first", "", "  spaced "],
    }
    assert raw.frame.index.tolist() == [2, 3, 4]  # sheet row numbers, header = row 1


def test_numbers_keep_their_digits_and_drop_only_noise(tmp_path: Path) -> None:
    values = [0.1 + 0.2, -5.25, 123456789012, 0.005, 1e20, -0.0]
    raw = read_raw(workbook(tmp_path / "b.xlsx", {"S": [["x"], *([v] for v in values)]}))

    assert raw.frame["x"].tolist() == ["0.3", "-5.25", "123456789012", "0.005", "1e+20", "0"]


def test_sheet_by_name_or_index_and_the_first_by_default(tmp_path: Path) -> None:
    path = workbook(tmp_path / "b.xlsx", {"Summary": [["total"], [3]], "Invoices": INVOICES})

    assert read_raw(path).name == "b.xlsx[Summary]"
    assert read_raw(path, sheet=1).name == "b.xlsx[Invoices]"
    by_name = read_raw(path, sheet="Invoices")
    assert by_name.frame["Invoice"].tolist() == ["A1", "A2", "1001"]


@pytest.mark.parametrize(
    ("sheet", "said"),
    [
        ("Payments", "no sheet named 'Payments'; the workbook has the sheet(s): 'Summary', 'Inv'"),
        ("inv", "no sheet named 'inv' (did you mean 'Inv'? names are matched exactly)"),
        (2, "there is no sheet number 2 (counted from 0); the workbook has 2 sheet(s)"),
    ],
)
def test_an_unknown_sheet_lists_the_sheets(tmp_path: Path, sheet: str | int, said: str) -> None:
    path = workbook(tmp_path / "b.xlsx", {"Summary": [["a"]], "Inv": [["b"]]})
    with pytest.raises(DataImportError) as exc:
        read_raw(path, sheet=sheet)
    assert str(exc.value).startswith("b.xlsx: ") and said in str(exc.value)


def test_empty_rows_are_skipped_and_rows_keep_their_number(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["id", "amount"], ["a", 1], [None, None], ["b", 2], [None, None]]
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    sheet["B9"] = ""  # a cell that is written but holds nothing, after the data
    book.save(tmp_path / "b.xlsx")

    raw = read_raw(tmp_path / "b.xlsx")

    assert raw.frame["id"].tolist() == ["a", "b"]
    assert raw.frame.index.tolist() == [2, 4]


def test_title_rows_are_skipped_with_skip_rows_and_hinted_without(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["Invoice report"], ["Printed 2026-01-05"], [], *INVOICES[:2]]
    path = workbook(tmp_path / "b.xlsx", {"Report": rows})

    with pytest.raises(DataImportError) as exc:
        read_raw(path)
    assert str(exc.value) == (
        "b.xlsx[Report]: row 1 holds only 'Invoice report', which looks like a title, not "
        "the header with the column names; row 4 looks like the header (5 names): set "
        "skip_rows = 3 for this table in the mapping file (--mapping) to skip the 3 row(s) "
        "before it"
    )
    raw = read_raw(path, skip_rows=3)
    assert raw.frame["Invoice"].tolist() == ["A1"] and raw.frame.index.tolist() == [5]


def test_data_starting_lower_right_keeps_sheet_row_numbers(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet["C3"], sheet["D3"] = "id", "amount"
    sheet["C4"], sheet["D4"] = "a", 5
    book.save(tmp_path / "b.xlsx")

    raw = read_raw(tmp_path / "b.xlsx", skip_rows=2)

    assert list(raw.frame.columns) == ["id", "amount"]  # empty columns A and B dropped
    assert raw.frame.index.tolist() == [4]


def test_duplicate_and_empty_header_names(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["id", "Amount", None, "Amount"], ["a", 1, "x", 2]]
    raw = read_raw(workbook(tmp_path / "b.xlsx", {"S": rows}))

    assert list(raw.frame.columns) == ["id", "Amount", "(column C)", "Amount (2)"]
    assert raw.duplicated == frozenset({"Amount"})


def test_nameless_columns_are_named_by_their_letter(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet["B1"], sheet["AB1"] = "id", "amount"
    sheet["B2"], sheet["C2"], sheet["AA2"], sheet["AB2"] = "a", "x", "y", 1
    book.save(tmp_path / "b.xlsx")

    raw = read_raw(tmp_path / "b.xlsx")

    assert list(raw.frame.columns) == ["id", "(column C)", "(column AA)", "amount"]


def test_header_only_sheet_and_empty_sheet(tmp_path: Path) -> None:
    path = workbook(tmp_path / "b.xlsx", {"Head": [["id", "amount"]], "Empty": []})

    raw = read_raw(path)
    assert raw.frame.empty and list(raw.frame.columns) == ["id", "amount"]
    with pytest.raises(DataImportError, match=r"b\.xlsx\[Empty\]: the sheet is empty"):
        read_raw(path, sheet="Empty")
    with pytest.raises(DataImportError, match=r"only 1 row.*after skip_rows = 4"):
        read_raw(path, skip_rows=4)


@pytest.mark.parametrize("name", ["b.xlsx", "old.xls"])
def test_not_a_workbook_says_how_to_fix_it(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("id,amount\n1,2\n")
    with pytest.raises(DataImportError, match=r"not a readable Excel workbook .* save it as"):
        read_raw(tmp_path / name)


def test_excel_suffixes_are_known() -> None:
    assert ".xlsx" in EXCEL_SUFFIXES and ".xls" in EXCEL_SUFFIXES  # calamine reads both
    assert file_format(Path("Book.XLSX")) == file_format(Path("old.xls")) == "xlsx"
    with pytest.raises(DataImportError, match=r"\.xlsx"):
        file_format(Path("book.ods"))
