"""Read one exported CSV or Parquet file into a raw DataFrame, with clear errors.

CSV values come back as strings exactly as written (no type guessing: "00123" stays
"00123", "NA" stays "NA"); empty fields are empty strings, which validation treats
as missing. Records whose fields are all empty (",,,," rows that spreadsheets leave
at the end) are skipped. Parquet values come back in the file's own types (dates, numbers,
booleans, strings); validation converts either to the canonical types.

The frame's index is the *physical line* where each record starts, header = line 1, so
the first data row is line 2 when no blank line precedes it. Blank lines (skipped) and
quoted line breaks inside values are counted. Parquet has no lines: a Parquet row's
"line" is its row number + 2, so the numbering reads the same as for a CSV export of the
same data.

Every failure a user can cause (missing file, empty file, wrong encoding, wrong
delimiter, rows with the wrong number of fields, unreadable Parquet) raises
`DataImportError` with a message that says what to change.
"""

from __future__ import annotations

import codecs
import csv
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kernel.errors import BadRow, DataImportError

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
        raise _field_count_error(
            path, invalid, expected=len(header), delimiter=delimiter, encoding=encoding
        )
    _check_quotes_closed(path, delimiter=delimiter, encoding=encoding)

    frame = table.to_pandas()
    frame.columns = header
    frame.index = _physical_lines(path, len(frame), delimiter=delimiter, encoding=encoding)
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
    try:
        with path.open(encoding=_codec(encoding), newline="") as handle:
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
    line = _first_undecodable_line(path, encoding)
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


def _first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The line (header = 1) of the first byte `encoding` cannot decode; one pass, by chunk."""
    decoder = codecs.getincrementaldecoder(_codec(encoding))()
    line = 1
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            # Bytes of a character cut by the previous chunk, decoded with this one.
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return line + block.count(b"\n", 0, max(exc.start - pending, 0))
            line += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:  # the file ends inside a character
        return line
    return None


def _field_count_error(
    path: Path,
    invalid: list[tuple[int, str]],
    *,
    expected: int,
    delimiter: str,
    encoding: str,
) -> DataImportError:
    """The error listing every record whose field count differs from the header's."""
    rows: list[BadRow] = []
    try:  # only for files with broken rows: read the records again, with their lines
        records = _records(path, delimiter=delimiter, encoding=encoding)
        next(records, None)  # the header
        for line, fields in records:
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


def _check_quotes_closed(path: Path, *, delimiter: str, encoding: str) -> None:
    """Refuse a quote left open: Arrow would read the rest of the file as one value.

    Only a file with an odd number of quote characters can hold one (quoted values and
    doubled quotes come in pairs), so others cost one byte count and no parsing.
    """
    quotes = 0
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            quotes += block.count(b'"')
    if quotes % 2 == 0:
        return
    line = end = 0
    try:
        with _large_fields(), path.open(encoding=_codec(encoding), newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            for _fields in reader:
                end = reader.line_num
    except csv.Error as exc:
        # Other strict-mode complaints (a quote inside an unquoted value) Arrow reads fine.
        if "unexpected end of data" in str(exc):
            line = end + 1
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


def _physical_lines(path: Path, n: int, *, delimiter: str, encoding: str) -> pd.Index:
    """Line where each of the `n` records starts: header = 1, blank and quoted breaks counted."""
    if _one_line_per_record(path, n):
        return pd.RangeIndex(2, n + 2)
    try:
        lines = _record_lines(path, delimiter=delimiter, encoding=encoding)[1:]
    except (csv.Error, UnicodeDecodeError) as exc:
        lines, reason = np.empty(0, dtype=np.int64), str(exc)
    else:
        reason = f"{len(lines)} records where Arrow read {n}"
    if len(lines) != n:
        # Never seen with the files we know; the rows are still right, only their lines not.
        logger.warning(
            "%s: cannot number the records by line (%s); numbering them in order", path.name, reason
        )
        return pd.RangeIndex(2, n + 2)
    return pd.Index(lines)


def _one_line_per_record(path: Path, n: int) -> bool:
    """Whether the file holds exactly the header and `n` lines (trailing blank lines aside).

    Then no blank line and no quoted line break can sit between records, and records are
    numbered without parsing the file again. One pass of byte counts, chunk by chunk.
    """
    newlines = trailing = crs = crlfs = 0
    last = b""
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            newlines += block.count(b"\n")
            if b"\r" in block:  # a quick scan: files with "\n" alone pay no more than this
                crs += block.count(b"\r")
                crlfs += block.count(b"\r\n")
            crlfs += last.endswith(b"\r") and block.startswith(b"\n")
            content = block.rstrip(b"\r\n")
            # Line breaks after the last character that is not one (across blocks).
            tail = block.count(b"\n", len(content))
            trailing = tail if content else trailing + tail
            last = block
    # A lone "\r" ends a line for Arrow and the csv module: count those files the slow way.
    return crs == crlfs and newlines - trailing + 1 == n + 1


def _records(path: Path, *, delimiter: str, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """Every record of the file, header first, with the line where it starts.

    The csv module splits lines as Arrow does (quoted line breaks stay in the value) and
    returns `[]` for a blank line, which Arrow skips; `line_num` tells where a record ends.
    """
    with (
        _large_fields(),
        path.open(encoding=_codec(encoding), newline="") as handle,
    ):
        reader = csv.reader(handle, delimiter=delimiter)
        end = 0
        for fields in reader:
            if fields:
                yield end + 1, fields
            end = reader.line_num


def _record_lines(path: Path, *, delimiter: str, encoding: str) -> np.ndarray:
    """The line where each record starts, header first (`_records` without the fields)."""
    lines = _records(path, delimiter=delimiter, encoding=encoding)
    return np.fromiter((line for line, _ in lines), dtype=np.int64)


@contextmanager
def _large_fields() -> Iterator[None]:
    """Let the csv module read values as long as Arrow does (its default limit is 128 KiB)."""
    before = csv.field_size_limit()
    csv.field_size_limit(max(before, _CHUNK))
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _codec(encoding: str) -> str:
    """The codec to read text with: a UTF-8 byte-order mark is dropped."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
