"""Reading exported files: values as written, physical line numbers, and clear failures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.importing import import_directory
from features.readers import read_raw
from features.store import get_engine
from kernel.errors import DataImportError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_values_stay_text_as_written(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "\ufeffid,code,amount\n1,00123,NA\n2,,1.50\n")

    raw = read_raw(path)

    assert list(raw.frame.columns) == ["id", "code", "amount"]  # BOM dropped
    assert raw.frame["code"].tolist() == ["00123", ""]
    assert raw.frame["amount"].tolist() == ["NA", "1.50"]
    assert raw.frame.index.tolist() == [2, 3]


def test_header_names_are_trimmed_and_values_stay_text(tmp_path: Path) -> None:
    raw = read_raw(write(tmp_path / "x.csv", " id , amount \n007, 12\n"))

    assert list(raw.frame.columns) == ["id", "amount"]
    assert raw.frame["id"].tolist() == ["007"]
    assert raw.frame["amount"].tolist() == [" 12"]  # trimmed later, by the mapping step


def test_quoted_line_breaks_count_as_physical_lines(tmp_path: Path) -> None:
    text = 'id,text\na,"one\ntwo\nthree"\nb,plain\nc,"x\r\ny"\nd,last\n'
    raw = read_raw(write(tmp_path / "x.csv", text))

    assert raw.frame["id"].tolist() == ["a", "b", "c", "d"]
    assert raw.frame.index.tolist() == [2, 5, 6, 8]


def test_records_with_every_field_empty_are_skipped(tmp_path: Path) -> None:
    raw = read_raw(write(tmp_path / "x.csv", "id,name\n1,a\n,\n2,\n , \n"))
    assert raw.frame["id"].tolist() == ["1", "2"]
    assert raw.frame.index.tolist() == [2, 4]


def test_header_only_is_zero_rows(tmp_path: Path) -> None:
    raw = read_raw(write(tmp_path / "x.csv", "id,name\n"))
    assert raw.frame.empty and list(raw.frame.columns) == ["id", "name"]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataImportError, match=r"x\.csv: empty file \(0 bytes\)"):
        read_raw(write(tmp_path / "x.csv", ""))


def test_not_utf8_says_how_to_set_the_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "id,name\n1,Müller\n", encoding="latin-1")
    with pytest.raises(DataImportError) as exc:
        read_raw(path)
    assert "not valid utf-8" in str(exc.value) and 'encoding = "latin-1"' in str(exc.value)

    assert read_raw(path, encoding="latin-1").frame["name"].tolist() == ["Müller"]


@pytest.mark.parametrize(("sep", "said"), [(";", "';'"), ("\t", "a tab"), ("|", "'|'")])
def test_wrong_delimiter_is_named(tmp_path: Path, sep: str, said: str) -> None:
    path = write(tmp_path / "x.csv", f"id{sep}name\n1{sep}a\n")
    with pytest.raises(DataImportError) as exc:
        read_raw(path)
    assert f"looks like it is separated by {said}" in str(exc.value)
    assert "delimiter" in str(exc.value) and "mapping" in str(exc.value)

    assert read_raw(path, delimiter=sep).frame["name"].tolist() == ["a"]


def test_rows_with_wrong_field_count_are_reported_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "id,name\n1,a\n2,b,extra\n3,c\n4\n")
    with pytest.raises(DataImportError) as exc:
        read_raw(path)
    assert [(r.line, r.reason[:33]) for r in exc.value.bad_rows] == [
        (3, "the row has 3 field(s), the heade"),
        (5, "the row has 1 field(s), the heade"),
    ]


def test_duplicate_header_names_are_renamed_and_listed(tmp_path: Path) -> None:
    text = "id,amount, amount,Note,amount,amount (2)\n1,2,3,n,4,5\n"
    raw = read_raw(write(tmp_path / "x.csv", text))

    assert list(raw.frame.columns) == [
        "id",
        "amount",
        "amount (3)",  # "amount (2)" is written by the file itself, later
        "Note",
        "amount (4)",
        "amount (2)",
    ]
    assert raw.frame.loc[2].tolist() == ["1", "2", "3", "n", "4", "5"]
    assert raw.duplicated == frozenset({"amount"})
    assert read_raw(write(tmp_path / "y.csv", "id,amount\n1,2\n")).duplicated == frozenset()


def test_empty_header_names_get_their_position(tmp_path: Path) -> None:
    raw = read_raw(write(tmp_path / "x.csv", "id,,amount,\n1,a,2,b\n"))

    assert list(raw.frame.columns) == ["id", "(column 2)", "amount", "(column 4)"]
    assert raw.duplicated == frozenset()  # nameless columns are not ambiguous: unusable


def test_parquet_duplicate_names_are_renamed_too(tmp_path: Path) -> None:
    table = pa.table([pa.array(["a"]), pa.array([1]), pa.array([2])], names=["id", "x ", "x"])
    pq.write_table(table, tmp_path / "x.parquet")

    raw = read_raw(tmp_path / "x.parquet")

    assert list(raw.frame.columns) == ["id", "x", "x (2)"]
    assert raw.frame["x (2)"].tolist() == [2] and raw.duplicated == frozenset({"x"})


def test_parquet_keeps_native_types_and_numbers_rows_like_lines(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "when": pd.to_datetime(["2024-01-02", "2024-03-04"])})
    frame.to_parquet(tmp_path / "x.parquet")

    raw = read_raw(tmp_path / "x.parquet")

    assert raw.format == "parquet"
    assert raw.frame.index.tolist() == [2, 3]
    assert pd.api.types.is_datetime64_any_dtype(raw.frame["when"])


def test_unreadable_parquet_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataImportError, match="not a readable Parquet file"):
        read_raw(write(tmp_path / "x.parquet", "id,name\n1,a\n"))


def test_missing_folder_and_missing_files_are_named(tmp_path: Path, sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    with pytest.raises(DataImportError, match="no such folder"):
        import_directory(engine, tmp_path / "nowhere")

    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "customers.csv", "customer_id,name,created_at\n")
    write(folder / "Invoices.CSV", "x\n")
    with pytest.raises(DataImportError) as exc:
        import_directory(engine, folder)
    message = str(exc.value)
    assert "missing required file(s): invoices.csv or invoices.parquet" in message
    assert "payments" not in message  # a ledger with no payments yet is valid
    assert "Found: Invoices.CSV, customers.csv" in message
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # nothing touched

    write(folder / "invoices.csv", "invoice_id\n")
    pd.DataFrame({"invoice_id": ["x"]}).to_parquet(folder / "invoices.parquet")
    with pytest.raises(DataImportError, match=r"both invoices.csv and invoices.parquet"):
        import_directory(engine, folder)


def test_every_unreadable_file_is_reported_in_one_go(tmp_path: Path, sqlite_url: str) -> None:
    """The import stopped at the first file with broken rows: a user fixed it, ran again,
    and only then learned of the next file's."""
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "customers.csv", "customer_id,name,created_at\nC1,Acme,2024-01-01\n")
    write(
        folder / "invoices.csv",
        "invoice_id,customer_id,issue_date,due_date,amount\n"
        "I1,C1,2024-01-02,2024-02-01,10,extra\nI2,C1,2024-01-03,2024-02-02,20\n",
    )
    write(folder / "payments.csv", "payment_id,invoice_id,payment_date,amount\nP1,I2\n")
    with pytest.raises(DataImportError) as exc:
        import_directory(get_engine(sqlite_url), folder)

    assert [(r.file, r.line) for r in exc.value.bad_rows] == [
        ("invoices.csv", 2),
        ("payments.csv", 2),
    ]
    message = str(exc.value)
    assert "invoices.csv: 1 row(s) do not have as many fields" in message
    assert "payments.csv: 1 row(s) do not have as many fields" in message
    assert exc.value.total == 2


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("id,name\n\n1,a\n\n\n2,b\n3,c\n\n\n", [3, 6, 7]),  # blank at start, middle and end
        ("id,name\r\n1,a\r\n\r\n2,b", [2, 4]),  # CRLF, no final line break
        ("id,name\r1,a\r\r2,b\r", [2, 4]),  # old Mac line ends: "\r" alone
    ],
)
def test_blank_lines_are_counted_as_physical_lines(
    tmp_path: Path, text: str, lines: list[int]
) -> None:
    raw = read_raw(write(tmp_path / "x.csv", text))

    assert raw.frame.index.tolist() == lines


def test_quoted_line_breaks_and_blank_lines_together(tmp_path: Path) -> None:
    # a spans 3-5 (an empty line inside its quotes), b is 7, c spans 8-9, d is 11.
    text = 'id,text\n\na,"one\n\nthree"\n\nb,plain\nc,"x\r\ny"\n\nd,last\n\n'
    raw = read_raw(write(tmp_path / "x.csv", text))

    assert raw.frame["id"].tolist() == ["a", "b", "c", "d"]
    assert raw.frame["text"].tolist()[0] == "one\n\nthree"
    assert raw.frame.index.tolist() == [3, 7, 8, 11]


def test_wrong_field_counts_are_located_by_line_not_by_text(tmp_path: Path) -> None:
    # Row text that also occurs earlier ("2", "1,a,b"), after a blank and a multi-line record.
    text = 'id,name\n1,a,b\n\n2,"multi\nline"\n42,c\n2\n1,a,b\n'
    with pytest.raises(DataImportError) as exc:
        read_raw(write(tmp_path / "x.csv", text))

    assert [(r.file, r.line, r.reason[:41]) for r in exc.value.bad_rows] == [
        ("x.csv", 2, "the row has 3 field(s), the header has 2:"),
        ("x.csv", 7, "the row has 1 field(s), the header has 2:"),
        ("x.csv", 8, "the row has 3 field(s), the header has 2:"),
    ]
    assert "x.csv:7: the row has 1 field(s)" in str(exc.value)


TITLED = (
    "Invoice report\nPrinted 2026-01-05\n\nInvoice,Date,Amount\nA1,2026-01-02,10\n\n"
    "A2,2026-01-03,20\n"
)


def test_skip_rows_keeps_physical_line_numbers(tmp_path: Path) -> None:
    raw = read_raw(write(tmp_path / "x.csv", TITLED), skip_rows=3)

    assert list(raw.frame.columns) == ["Invoice", "Date", "Amount"]
    assert raw.frame["Invoice"].tolist() == ["A1", "A2"]
    assert raw.frame.index.tolist() == [5, 7]  # header is line 4, a blank line at 6


def test_skip_rows_without_blank_lines_numbers_from_the_header(tmp_path: Path) -> None:
    text = "Report,,\nInvoice,Date,Amount\nA1,d,1\nA2,d,2\n"  # the one-pass numbering
    raw = read_raw(write(tmp_path / "x.csv", text), skip_rows=1)

    assert raw.frame.index.tolist() == [3, 4]


def test_skip_rows_lines_of_broken_rows_and_open_quotes(tmp_path: Path) -> None:
    text = 'Title "quoted\nid,name\n1,a\n2,b,c\n'
    with pytest.raises(DataImportError) as exc:
        read_raw(write(tmp_path / "x.csv", text), skip_rows=1)
    assert [(r.line, r.reason[:24]) for r in exc.value.bad_rows] == [
        (4, "the row has 3 field(s), "),
    ]

    text = 'Title\nid,name\n1,a\n2,"b\n3,c\n'
    with pytest.raises(DataImportError, match="never closed") as exc:
        read_raw(write(tmp_path / "y.csv", text), skip_rows=1)
    assert [r.line for r in exc.value.bad_rows] == [4]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (TITLED, "line 1 holds only 'Invoice report'"),
        ("Invoice report,,\nPrinted today,,\n,,\nInvoice,Date,Amount\nA1,,10\n", "line 1 holds"),
        ("\nInvoice report\n\nInvoice,Date,Amount\nA1,d,10\n", "line 1 is empty"),
    ],
)
def test_a_title_line_says_which_skip_rows_finds_the_header(
    tmp_path: Path, text: str, said: str
) -> None:
    with pytest.raises(DataImportError) as exc:
        read_raw(write(tmp_path / "x.csv", text))

    message = str(exc.value)
    assert said in message and "looks like a title" in message
    assert "line 4 looks like the header (3 names): set skip_rows = 3" in message
    assert "more than once" not in message
    assert read_raw(write(tmp_path / "x.csv", text), skip_rows=3).frame.columns[0] == "Invoice"


def test_a_wrong_skip_rows_is_corrected_from_where_it_points(tmp_path: Path) -> None:
    with pytest.raises(DataImportError, match=r"line 2 holds only 'Printed.*skip_rows = 3"):
        read_raw(write(tmp_path / "x.csv", TITLED), skip_rows=1)
    with pytest.raises(DataImportError, match=r"line 3 \(after skip_rows = 2\) is empty"):
        read_raw(write(tmp_path / "y.csv", "a\nb\n\nid\n1\n"), skip_rows=2)
    with pytest.raises(DataImportError, match="skip_rows = 9 skips the whole file"):
        read_raw(write(tmp_path / "z.csv", TITLED), skip_rows=9)


def test_skip_rows_must_fit_the_file(tmp_path: Path) -> None:
    pd.DataFrame({"id": ["a"]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataImportError, match="Parquet files have none"):
        read_raw(tmp_path / "x.parquet", skip_rows=1)
    with pytest.raises(DataImportError, match="skip_rows = -1 cannot apply"):
        read_raw(write(tmp_path / "x.csv", TITLED), skip_rows=-1)


def test_a_one_column_file_is_not_taken_for_a_title(tmp_path: Path) -> None:
    raw = read_raw(write(tmp_path / "x.csv", "id\nA1\nA2\n"))
    assert raw.frame["id"].tolist() == ["A1", "A2"]
