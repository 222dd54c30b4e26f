"""The problems an import finds: every one counted, the first `cap` kept for the report.

`Problems.error()` turns them into the one `DataImportError` an import raises, sorted by
file and physical line, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kernel.errors import BadRow, DataImportError

__all__ = ["Problems"]


@dataclass
class Problems:
    """Every problem found, kept up to `cap` with the total still counted."""

    cap: int
    rows: list[BadRow] = field(default_factory=list)
    total: int = 0
    _lines: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _files: list[str] = field(default_factory=list)

    def add(
        self,
        file: str,
        lines: Iterable[int] | pd.Index,
        column: str | None,
        reason: str | Callable[[int], str],
    ) -> None:
        """Record one problem per line; `reason` is a text or a function of the position."""
        lines = np.asarray(lines, dtype=np.int64)
        if not len(lines):
            return
        self._note_file(file)
        self.total += len(lines)
        self._lines.setdefault(file, []).append(lines)
        room = max(self.cap - len(self.rows), 0)
        for i, line in enumerate(lines[:room]):
            text = reason(i) if callable(reason) else reason
            self.rows.append(BadRow(file, int(line), column, text))

    def extend(self, rows: Iterable[BadRow]) -> None:
        """Record problems found elsewhere (missing columns: line None)."""
        for row in rows:
            self._note_file(row.file)
            self.total += 1
            if len(self.rows) < self.cap:
                self.rows.append(row)

    def _note_file(self, file: str) -> None:
        if file not in self._files:
            self._files.append(file)

    def __bool__(self) -> bool:
        return self.total > 0

    def bad_row_count(self) -> int:
        """Distinct (file, line) pairs with at least one problem; file-level ones count once."""
        count = sum(1 for row in self.rows if row.line is None)
        for arrays in self._lines.values():
            count += len(np.unique(np.concatenate(arrays)))
        return count

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
