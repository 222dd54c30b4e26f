"""Where a file's header and records are: header names, title lines, physical lines.

Shared by the CSV reader (features/readers.py) and the Excel reader
(features/readers_excel.py):

- `unique_names` turns the header as written into unique column names: names are
  trimmed, a name written again becomes "Name (2)", "Name (3)" (the mapping refuses to
  use such an ambiguous name), an empty name becomes "(column 7)".
- `title_hint` recognises a title line where the header was expected (reports start
  with "Invoice report" / "Printed 2026-01-05" lines) and says which `skip_rows` finds
  the header.
- `records`, `record_lines`, `one_line_per_record` number CSV records by the physical
  line where they start, after `skip` title lines; `first_undecodable_line` finds the
  line of the first byte that is not in the file's encoding.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = [
    "CHUNK",
    "codec",
    "first_undecodable_line",
    "large_fields",
    "one_line_per_record",
    "record_lines",
    "records",
    "title_hint",
    "unique_names",
]

CHUNK = 1 << 24
# Records read after a title line to find the header: title blocks are a few lines long.
_LOOKAHEAD = 50


def unique_names(written: Sequence[str]) -> tuple[list[str], frozenset[str]]:
    """Trimmed, unique column names, and the names the header holds more than once.

    The first copy of a repeated name keeps it; later copies become "Name (2)",
    "Name (3)"; an empty name becomes "(column N)" (N counted from 1).
    """
    trimmed = [str(name).strip() for name in written]
    taken = set(trimmed)
    seen: dict[str, int] = {}
    names: list[str] = []
    for position, name in enumerate(trimmed, start=1):
        if not name:
            names.append(_free(f"(column {position})", taken))
            continue
        seen[name] = seen.get(name, 0) + 1
        if seen[name] == 1:
            names.append(name)
            continue
        copy = seen[name]
        # A later copy must not take a name the header also writes ("Name (2)" itself).
        while f"{name} ({copy})" in taken:
            copy += 1
        names.append(_free(f"{name} ({copy})", taken))
    duplicated = frozenset(name for name, count in seen.items() if count > 1)
    return names, duplicated


def _free(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} #{n}"
    taken.add(candidate)
    return candidate


def title_hint(
    name: str,
    header: tuple[int, Sequence[str]],
    following: Iterable[tuple[int, Sequence[str]]],
    *,
    unit: str = "line",
) -> str | None:
    """A message naming the `skip_rows` that finds the header, when `header` looks like a title.

    A title holds at most one value; the header is then the first later record with the
    most values (at least two), looked for in the next records only.

    Args:
        name: the file, as shown to the user.
        header: the physical line (or sheet row) read as the header, and its fields.
        following: the records after it, with their lines.
        unit: "line" (CSV) or "row" (a sheet).
    """
    line, fields = header
    values = [f.strip() for f in fields if str(f).strip()]
    if len(values) > 1:
        return None
    best: tuple[int, int] | None = None  # (values, line)
    for later, later_fields in itertools.islice(following, _LOOKAHEAD):
        count = sum(1 for f in later_fields if str(f).strip())
        if count >= 2 and (best is None or count > best[0]):
            best = (count, later)
    if best is None:
        return None
    count, found = best
    said = f"holds only {values[0][:60]!r}" if values else "is empty"
    return (
        f"{name}: {unit} {line} {said}, which looks like a title, not the header with the "
        f"column names; {unit} {found} looks like the header ({count} names): set "
        f"skip_rows = {found - 1} for this table in the mapping file (--mapping) to skip "
        f"the {found - 1} {unit}(s) before it"
    )


def records(
    path: Path, *, delimiter: str, encoding: str, skip: int = 0
) -> Generator[tuple[int, list[str]], None, None]:
    """Every record after `skip` lines, header first, with the physical line where it starts.

    The csv module splits lines as Arrow does (quoted line breaks stay in the value) and
    returns `[]` for a blank line, which Arrow skips; `line_num` tells where a record ends.
    Title lines are skipped line by line, as Arrow's `skip_rows` does.
    """
    with large_fields(), path.open(encoding=codec(encoding), newline="") as handle:
        for _ in range(skip):
            handle.readline()
        reader = csv.reader(handle, delimiter=delimiter)
        end = 0
        for fields in reader:
            if fields:
                yield skip + end + 1, fields
            end = reader.line_num


def record_lines(path: Path, *, delimiter: str, encoding: str, skip: int = 0) -> np.ndarray:
    """The line where each record starts, header first (`records` without the fields)."""
    found = records(path, delimiter=delimiter, encoding=encoding, skip=skip)
    return np.fromiter((line for line, _ in found), dtype=np.int64)


def one_line_per_record(path: Path, n: int, *, skip: int = 0) -> bool:
    """Whether the file holds exactly `skip` title lines, the header and `n` lines.

    Trailing blank lines aside. Then no blank line and no quoted line break can sit
    between records, and records are numbered without parsing the file again. One pass
    of byte counts, chunk by chunk.
    """
    newlines = trailing = crs = crlfs = 0
    last = b""
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
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
    return crs == crlfs and newlines - trailing + 1 == skip + n + 1


def first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The line (first = 1) of the first byte `encoding` cannot decode; one pass, by chunk."""
    decoder = codecs.getincrementaldecoder(codec(encoding))()
    line = 1
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
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


@contextmanager
def large_fields() -> Iterator[None]:
    """Let the csv module read values as long as Arrow does (its default limit is 128 KiB)."""
    before = csv.field_size_limit()
    csv.field_size_limit(max(before, CHUNK))
    try:
        yield
    finally:
        csv.field_size_limit(before)


def codec(encoding: str) -> str:
    """The codec to read text with: a UTF-8 byte-order mark is dropped."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
