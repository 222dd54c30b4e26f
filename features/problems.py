"""The problems an import finds: every one counted, the first `cap` kept for the report.

`Problems.error()` turns them into the one `DataImportError` an import raises, sorted by
file and physical line, before anything is written. Every problem of a row is also kept
beyond the cap (lines and a lazy reason), so an import with a reject file can drop each
bad row and write every problem down (`features.import_reject`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kernel.errors import BadRow, DataImportError

__all__ = ["Problems"]

Reason = str | Callable[[int], str]


@dataclass
class Problems:
    """Every problem found, kept up to `cap` with the total still counted."""

    cap: int
    rows: list[BadRow] = field(default_factory=list)
    total: int = 0
    _lines: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _files: list[str] = field(default_factory=list)
    # Every problem, uncapped: (file, lines, column, reason) and the file-level ones.
    _records: list[tuple[str, np.ndarray, str | None, Reason]] = field(default_factory=list)
    _structural: list[BadRow] = field(default_factory=list)

    def add(
        self,
        file: str,
        lines: Iterable[int] | pd.Index,
        column: str | None,
        reason: Reason,
    ) -> None:
        """Record one problem per line; `reason` is a text or a function of the position."""
        lines = np.asarray(lines, dtype=np.int64)
        if not len(lines):
            return
        self._note_file(file)
        self.total += len(lines)
        self._lines.setdefault(file, []).append(lines)
        self._records.append((file, lines, column, reason))
        room = max(self.cap - len(self.rows), 0)
        for i, line in enumerate(lines[:room]):
            text = reason(i) if callable(reason) else reason
            self.rows.append(BadRow(file, int(line), column, text))

    def extend(self, rows: Iterable[BadRow]) -> None:
        """Record problems found elsewhere (missing columns: line None)."""
        for row in rows:
            self._note_file(row.file)
            self.total += 1
            if row.line is None:
                self._structural.append(row)
            else:
                lines = np.asarray([row.line], dtype=np.int64)
                self._lines.setdefault(row.file, []).append(lines)
                self._records.append((row.file, lines, row.column, row.reason))
            if len(self.rows) < self.cap:
                self.rows.append(row)

    def _note_file(self, file: str) -> None:
        if file not in self._files:
            self._files.append(file)

    def __bool__(self) -> bool:
        return self.total > 0

    def stops_rows_import(self, header_line: int) -> bool:
        """Whether a problem is with a whole file, not its rows (then no row is imported).

        A missing column has no line; a header or title line (at most `header_line`)
        holds no row that could be left out.
        """
        if self._structural:
            return True
        return any(
            (lines <= header_line).any() for arrays in self._lines.values() for lines in arrays
        )

    def bad_lines(self, file: str) -> np.ndarray:
        """Every line of `file` with at least one problem, sorted, beyond the cap too."""
        arrays = self._lines.get(file)
        if not arrays:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(arrays))

    def bad_row_count(self) -> int:
        """Distinct (file, line) pairs with at least one problem; file-level ones count once."""
        return len(self._structural) + sum(len(self.bad_lines(f)) for f in self._lines)

    def every_row(self) -> Iterator[BadRow]:
        """Every problem, uncapped, sorted by file (in the order found) and line."""
        order = {name: i for i, name in enumerate(self._files)}
        rows = list(self._structural)
        for file, lines, column, reason in self._records:
            for i, line in enumerate(lines):
                text = reason(i) if callable(reason) else reason
                rows.append(BadRow(file, int(line), column, text))
        rows.sort(key=lambda r: (order[r.file], r.line or 0))
        yield from rows

    def error(self) -> DataImportError:
        """The DataImportError listing the problems, sorted by file and line."""
        order = {name: i for i, name in enumerate(self._files)}
        rows = sorted(self.rows, key=lambda r: (order[r.file], r.line or 0))
        rows_bad = self.bad_row_count()
        message = (
            f"{self.total} problem(s) in {rows_bad} row(s) of {', '.join(self._files)}; "
            "nothing was written. Fix the files (or the mapping) and import again."
        )
        if self.total > len(rows):
            message += f" The first {len(rows)} are listed."
        return DataImportError(message, rows, self.total)
