"""Read one exported CSV, Parquet or Excel file into a raw DataFrame, with clear errors.

CSV values come back as strings exactly as written (no type guessing: "00123" stays
"00123", "NA" stays "NA"); empty fields are empty strings, which validation treats
as missing. Records whose fields are all empty (",,,," rows that spreadsheets leave
at the end) are skipped. Parquet values come back in the file's own types (dates, numbers,
booleans, strings); validation converts either to the canonical types. Excel sheets
(features/readers_excel.py) come back as text like CSV.

The frame's index is the *physical line* where each record starts: the header is line
`skip_rows + 1` (title lines such as "Invoice report" above it are skipped), so the first
data row is line 2 when there are no title lines and no blank line precedes it. Blank
lines (skipped) and quoted line breaks inside values are counted. Parquet has no lines: a
Parquet row's "line" is its row number + 2, so the numbering reads the same as for a CSV
export of the same data.

Header names are trimmed. A name written twice is not an error here: the first copy keeps
it, later copies become "Name (2)", ... and `RawFile.duplicated` lists it, so the mapping
can refuse to *use* an ambiguous column; an empty name becomes "(column N)".

Every failure a user can cause (missing file, empty file, wrong encoding, wrong
delimiter, a title line where the header should be, rows with the wrong number of fields,
unreadable Parquet) raises `DataImportError` with a message that says what to change.
"""

from __future__ import annotations

import csv
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.readers_layout import (
    CHUNK,
    codec,
    first_undecodable_line,
    large_fields,
    one_line_per_record,
    record_lines,
    records,
    title_hint,
    unique_names,
)
from kernel.errors import BadRow, DataImportError

__all__ = [
    "CSV_SUFFIXES",
    "EXCEL_SUFFIXES",
    "PARQUET_SUFFIXES",
    "RawFile",
    "file_format",
    "read_raw",
]

logger = logging.getLogger(__name__)

CSV_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
# ".xls" (the binary format before 2007) is read by the same library as ".xlsx".
EXCEL_SUFFIXES: tuple[str, ...] = (".xlsx", ".xls")

# Delimiters we recognise in a header that was read as one single column.
_OTHER_DELIMITERS = {";": "';'", "\t": "a tab ('\\t')", "|": "'|'", ",": "','"}


@dataclass(frozen=True)
class RawFile:
    """A file as read: its display name, format, and values indexed by physical line.

    `duplicated` holds the header names written more than once (later copies are the
    frame's "Name (2)", "Name (3)" columns). For a sheet, `name` is "book.xlsx[Sheet1]".
    """

    name: str
    path: Path
    format: str
    frame: pd.DataFrame
    duplicated: frozenset[str] = field(default_factory=frozenset)


def file_format(path: Path) -> str:
    """`"csv"`, `"parquet"` or `"xlsx"` from the file's suffix.

    Raises:
        DataImportError: the suffix is none of these.
    """
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in EXCEL_SUFFIXES:
        return "xlsx"
    raise DataImportError(
        f"{path.name}: cannot tell the format from the suffix {suffix!r}; "
        f"expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES)}"
    )


def read_raw(
    path: Path,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    skip_rows: int = 0,
    sheet: str | int | None = None,
) -> RawFile:
    """Read one CSV, Parquet or Excel file.

    Args:
        path: the file.
        delimiter: CSV field separator (CSV only).
        encoding: CSV text encoding (CSV only).
        skip_rows: title lines (CSV) or rows (Excel) before the header (not for Parquet).
        sheet: Excel sheet by name or 0-based index; default the first (Excel only).

    Returns:
        The raw file; `frame.index` holds the physical line (sheet row) of each record.

    Raises:
        DataImportError: the file is missing, empty or unreadable, with the reason.
    """
    if not path.is_file():
        raise DataImportError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataImportError(f"{path.name}: empty file (0 bytes); expected at least a header line")
    fmt = file_format(path)
    if skip_rows < 0 or (skip_rows and fmt == "parquet"):
        raise DataImportError(
            f"{path.name}: skip_rows = {skip_rows} cannot apply; it counts the title lines "
            "above the header of a CSV file or sheet (0 or more; Parquet files have none)"
        )
    if fmt == "xlsx":
        # Imported here: the Excel library is only loaded for workbooks.
        from features.readers_excel import read_sheet

        return read_sheet(path, sheet=sheet, skip_rows=skip_rows)
    if fmt == "parquet":
        written, frame = _read_parquet(path)
    else:
        written, frame = _read_csv(path, delimiter=delimiter, encoding=encoding, skip=skip_rows)
    names, duplicated = unique_names(written)
    frame.columns = names
    logger.debug("read %s: %d rows, columns %s", path.name, len(frame), names)
    return RawFile(name=path.name, path=path, format=fmt, frame=frame, duplicated=duplicated)


def _read_parquet(path: Path) -> tuple[list[str], pd.DataFrame]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataImportError(
            f"{path.name}: not a readable Parquet file ({exc}); export it again, or as CSV"
        ) from exc
    written = [str(c) for c in table.column_names]
    # Positional names so repeated names in the file cannot collide before renaming.
    table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    # date32 columns as datetime64, not Python date objects: vectorised downstream.
    frame = table.to_pandas(date_as_object=False)
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return written, frame


def _read_csv(
    path: Path, *, delimiter: str, encoding: str, skip: int
) -> tuple[list[str], pd.DataFrame]:
    written = _header(path, delimiter=delimiter, encoding=encoding, skip=skip)
    if len(written) == 1:
        _check_single_column(path, written[0].strip(), delimiter)

    invalid: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.actual_columns, row.text))
        return "skip"

    # Positional names (the header may repeat a name) so every column is typed string.
    positional = [f"c{i}" for i in range(len(written))]
    # Arrow skips title lines line by line, blank ones included, like `records`.
    read_options = pacsv.ReadOptions(
        encoding=encoding, use_threads=True, column_names=positional, skip_rows=skip + 1
    )
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
    )
    # All columns as strings: no type guessing, and empty fields stay "" (not null).
    convert_options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(positional, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(
            path,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError) or "UTF8" in str(exc):
            raise _encoding_error(path, encoding) from exc
        raise DataImportError(f"{path.name}: cannot parse as CSV: {exc}") from exc

    if invalid:
        raise _field_count_error(
            path, invalid, expected=len(written), delimiter=delimiter, encoding=encoding, skip=skip
        )
    _check_quotes_closed(path, delimiter=delimiter, encoding=encoding, skip=skip)

    frame = table.to_pandas()
    frame.index = _physical_lines(
        path, len(frame), delimiter=delimiter, encoding=encoding, skip=skip
    )
    return written, _drop_blank_records(path, frame)


def _drop_blank_records(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Drop records whose fields are all empty (spreadsheet exports end with ",,,,")."""
    blank = np.ones(len(frame), dtype=bool)
    for column in frame.columns:
        blank &= (frame[column].str.strip() == "").to_numpy(dtype=bool)
    if not blank.any():
        return frame
    logger.info("%s: skipping %d record(s) with every field empty", path.name, blank.sum())
    return frame[~blank]


def _header(path: Path, *, delimiter: str, encoding: str, skip: int) -> list[str]:
    """The header's names as written, from line `skip + 1` (csv module: quotes, a BOM).

    Raises:
        DataImportError: that line is empty or looks like a title (then naming the
            `skip_rows` that finds the header), or the file ends before it.
    """
    line = skip + 1
    found = records(path, delimiter=delimiter, encoding=encoding, skip=skip)
    try:
        first = next(found, None)
        if first is not None and first[0] == line:
            fields = [c.lstrip("\ufeff") for c in first[1]]
            hint = title_hint(path.name, (line, fields), found)
        else:  # line `skip + 1` is blank: the header may come later
            fields = []
            rest = found if first is None else itertools.chain([first], found)
            hint = title_hint(path.name, (line, fields), rest)
    except (UnicodeDecodeError, csv.Error) as exc:
        if isinstance(exc, csv.Error):
            raise DataImportError(f"{path.name}: cannot parse as CSV: {exc}") from exc
        raise _encoding_error(path, encoding) from exc
    finally:
        found.close()  # the file, and the csv module's field limit, back at once
    if hint:
        raise DataImportError(hint)
    if first is None and skip:
        raise DataImportError(
            f"{path.name}: nothing after line {skip}: skip_rows = {skip} skips the whole file; "
            "set it to the number of title lines above the header"
        )
    if not any(c.strip() for c in fields):
        where = "the first line" if line == 1 else f"line {line} (after skip_rows = {skip})"
        raise DataImportError(
            f"{path.name}: {where} is empty; expected a header line with column names"
        )
    return fields


def _check_single_column(path: Path, name: str, delimiter: str) -> None:
    for char, label in _OTHER_DELIMITERS.items():
        if char != delimiter and char in name:
            raise DataImportError(
                f"{path.name}: the header was read as one single column {name[:80]!r}; it looks "
                f"like it is separated by {label}, not {delimiter!r}: set "
                f'delimiter = "{char.encode("unicode_escape").decode()}" for this table in '
                "the mapping file (--mapping)"
            )


def _encoding_error(path: Path, encoding: str) -> DataImportError:
    line = first_undecodable_line(path, encoding)
    rows = []
    if line is not None:
        reason = f"the first byte that is not {encoding} text is on this line"
        rows = [BadRow(path.name, line, None, reason)]
    return DataImportError(
        f"{path.name}: the file is not valid {encoding} text. If it was exported with "
        'another encoding, set it for this table in the mapping file, e.g. encoding = "latin-1" '
        '(or "cp1252" for Windows exports)',
        rows,
        len(rows),
    )


def _field_count_error(
    path: Path,
    invalid: list[tuple[int, str]],
    *,
    expected: int,
    delimiter: str,
    encoding: str,
    skip: int,
) -> DataImportError:
    """The error listing every record whose field count differs from the header's."""
    rows: list[BadRow] = []
    try:  # only for files with broken rows: read the records again, with their lines
        found = records(path, delimiter=delimiter, encoding=encoding, skip=skip)
        next(found, None)  # the header
        for line, fields in found:
            if len(fields) != expected:
                text = delimiter.join(fields)
                rows.append(
                    BadRow(path.name, line, None, _count_reason(len(fields), expected, text))
                )
    except (csv.Error, UnicodeDecodeError) as exc:
        logger.warning("%s: cannot locate the broken rows (%s)", path.name, exc)
        rows = []
    if not rows:  # the csv module parsed this file otherwise: report Arrow's rows, no lines
        rows = [
            BadRow(path.name, None, None, _count_reason(actual, expected, text))
            for actual, text in invalid
        ]
    return DataImportError(
        f"{path.name}: {len(rows)} row(s) do not have as many fields as the header; "
        "nothing was written (check the delimiter and the quoting of values)",
        rows,
        len(rows),
    )


def _check_quotes_closed(path: Path, *, delimiter: str, encoding: str, skip: int) -> None:
    """Refuse a quote left open: Arrow would read the rest of the file as one value.

    Only a file with an odd number of quote characters can hold one (quoted values and
    doubled quotes come in pairs), so others cost one byte count and no parsing.
    """
    quotes = 0
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            quotes += block.count(b'"')
    if quotes % 2 == 0:
        return
    line = end = 0
    try:
        with large_fields(), path.open(encoding=codec(encoding), newline="") as handle:
            for _ in range(skip):  # title lines, skipped line by line as Arrow does
                handle.readline()
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            for _fields in reader:
                end = reader.line_num
    except csv.Error as exc:
        # Other strict-mode complaints (a quote inside an unquoted value) Arrow reads fine.
        if "unexpected end of data" in str(exc):
            line = skip + end + 1
    if line:
        reason = "a quoted value starts on this line and is never closed"
        raise DataImportError(
            f"{path.name}: a quote is never closed, so the rest of the file would be read as "
            "one value; nothing was written (close or remove the quote)",
            [BadRow(path.name, line, None, reason)],
            1,
        )


def _count_reason(actual: int, expected: int, text: str) -> str:
    return f"the row has {actual} field(s), the header has {expected}: {text[:80]!r}"


def _physical_lines(path: Path, n: int, *, delimiter: str, encoding: str, skip: int) -> pd.Index:
    """Line where each of the `n` records starts: header = skip + 1, blank and quoted
    breaks counted."""
    first = skip + 2
    if one_line_per_record(path, n, skip=skip):
        return pd.RangeIndex(first, n + first)
    try:
        lines = record_lines(path, delimiter=delimiter, encoding=encoding, skip=skip)[1:]
    except (csv.Error, UnicodeDecodeError) as exc:
        lines, reason = np.empty(0, dtype=np.int64), str(exc)
    else:
        reason = f"{len(lines)} records where Arrow read {n}"
    if len(lines) != n:
        # Never seen with the files we know; the rows are still right, only their lines not.
        logger.warning(
            "%s: cannot number the records by line (%s); numbering them in order", path.name, reason
        )
        return pd.RangeIndex(first, n + first)
    return pd.Index(lines)
