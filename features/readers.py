"""Read one exported CSV or Parquet file into a raw DataFrame, with clear errors.

CSV values come back as strings exactly as written (no type guessing: "00123" stays
"00123", "NA" stays "NA"); empty fields are empty strings, which validation treats
as missing. Records whose fields are all empty (",,,," rows that spreadsheets leave
at the end) are skipped. Parquet values come back in the file's own types (dates, numbers,
booleans, strings); validation converts either to the canonical types.

The frame's index is the *physical line* of each record in the file, header = line 1,
so the first data row is line 2. Records with quoted line breaks inside a value are
counted correctly. Parquet has no lines: a Parquet row's "line" is its row number + 2,
so the numbering reads the same as for a CSV export of the same data.

Every failure a user can cause (missing file, empty file, wrong encoding, wrong
delimiter, rows with the wrong number of fields, unreadable Parquet) raises
`DataImportError` with a message that says what to change.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from duecast.errors import BadRow, DataImportError

__all__ = ["CSV_SUFFIXES", "PARQUET_SUFFIXES", "RawFile", "file_format", "read_raw"]

logger = logging.getLogger(__name__)

CSV_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")

# Delimiters we recognise in a header that was read as one single column.
_OTHER_DELIMITERS = {";": "';'", "\t": "a tab ('\\t')", "|": "'|'", ",": "','"}
_CHUNK = 1 << 24


@dataclass(frozen=True)
class RawFile:
    """A file as read: its display name, format, and values indexed by physical line."""

    name: str
    path: Path
    format: str
    frame: pd.DataFrame


def file_format(path: Path) -> str:
    """`"csv"` or `"parquet"` from the file's suffix.

    Raises:
        DataImportError: the suffix is neither.
    """
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise DataImportError(
        f"{path.name}: cannot tell the format from the suffix {suffix!r}; "
        f"expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
    )


def read_raw(path: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> RawFile:
    """Read one CSV or Parquet file.

    Args:
        path: the file.
        delimiter: CSV field separator (ignored for Parquet).
        encoding: CSV text encoding (ignored for Parquet).

    Returns:
        The raw file; `frame.index` holds the physical line of each record.

    Raises:
        DataImportError: the file is missing, empty or unreadable, with the reason.
    """
    if not path.is_file():
        raise DataImportError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataImportError(f"{path.name}: empty file (0 bytes); expected at least a header line")
    fmt = file_format(path)
    if fmt == "parquet":
        frame = _read_parquet(path)
    else:
        frame = _read_csv(path, delimiter=delimiter, encoding=encoding)
    logger.debug("read %s: %d rows, columns %s", path.name, len(frame), list(frame.columns))
    return RawFile(name=path.name, path=path, format=fmt, frame=frame)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataImportError(
            f"{path.name}: not a readable Parquet file ({exc}); export it again, or as CSV"
        ) from exc
    # date32 columns as datetime64, not Python date objects: vectorised downstream.
    frame = table.to_pandas(date_as_object=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def _read_csv(path: Path, *, delimiter: str, encoding: str) -> pd.DataFrame:
    written = _header(path, delimiter=delimiter, encoding=encoding)
    header = [c.strip() for c in written]
    if len(header) == 1:
        _check_single_column(path, header[0], delimiter)
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise DataImportError(
            f"{path.name}: the header names the column(s) {', '.join(map(repr, duplicated))} "
            "more than once; rename them so every column is unique"
        )

    invalid: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.actual_columns, row.text))
        return "skip"

    # Our own header names (as written, spaces kept) so every column is typed string.
    read_options = pacsv.ReadOptions(
        encoding=encoding, use_threads=True, column_names=written, skip_rows=1
    )
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
    )
    # All columns as strings: no type guessing, and empty fields stay "" (not null).
    convert_options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(written, pa.string()),
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
        raise _field_count_error(path, invalid, expected=len(header), encoding=encoding)

    frame = table.to_pandas()
    frame.columns = header
    frame.index = _physical_lines(path, frame)
    return _drop_blank_records(path, frame)


def _drop_blank_records(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Drop records whose fields are all empty (spreadsheet exports end with ",,,,")."""
    blank = np.ones(len(frame), dtype=bool)
    for column in frame.columns:
        blank &= (frame[column].str.strip() == "").to_numpy(dtype=bool)
    if not blank.any():
        return frame
    logger.info("%s: skipping %d record(s) with every field empty", path.name, blank.sum())
    return frame[~blank]


def _header(path: Path, *, delimiter: str, encoding: str) -> list[str]:
    """The header's column names, read with the csv module (handles quotes and a BOM)."""
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        with path.open(encoding=codec, newline="") as handle:
            first = next(csv.reader(handle, delimiter=delimiter), None)
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, encoding) from exc
    if not first or not any(c.strip() for c in first):
        raise DataImportError(
            f"{path.name}: the first line is empty; expected a header line with column names"
        )
    return [c.lstrip("\ufeff") for c in first]


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
    return DataImportError(
        f"{path.name}: the file is not valid {encoding} text. If it was exported with "
        'another encoding, set it for this table in the mapping file, e.g. encoding = "latin-1" '
        '(or "cp1252" for Windows exports)'
    )


def _field_count_error(
    path: Path, invalid: list[tuple[int, str]], *, expected: int, encoding: str
) -> DataImportError:
    data = path.read_bytes()
    rows = []
    for actual, text in invalid:
        # Only for the (few) broken rows: find the record to tell its line.
        try:
            at = data.find(text.encode(encoding))
        except (UnicodeEncodeError, LookupError):
            at = -1
        line = data.count(b"\n", 0, at) + 1 if at >= 0 else None
        rows.append(
            BadRow(
                path.name,
                line,
                None,
                f"the row has {actual} field(s), the header has {expected}: {text[:80]!r}",
            )
        )
    return DataImportError(
        f"{path.name}: {len(rows)} row(s) do not have as many fields as the header; "
        "nothing was written (check the delimiter and the quoting of values)",
        rows,
        len(rows),
    )


def _physical_lines(path: Path, frame: pd.DataFrame) -> pd.Index:
    """Line of each record: header = 1, first record = 2, quoted line breaks counted."""
    n = len(frame)
    newlines = 0
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            newlines += block.count(b"\n")
    if newlines <= n + 1:  # one line per record (with or without a final line break)
        return pd.RangeIndex(2, n + 2)
    # Some values hold line breaks: shift every later record by the breaks before it.
    inner = np.zeros(n, dtype=np.int64)
    for column in frame.columns:
        inner += frame[column].str.count("\n").to_numpy(dtype=np.int64)
    before = np.concatenate(([0], np.cumsum(inner)[:-1])) if n else inner
    return pd.Index(np.arange(2, n + 2) + before)
