"""What a parsed column mapping is: one `TableMapping` per table, and the mapped frame.

The file format these objects are read from is documented in `features.mapping`;
`features.mapping_parse` builds them, `features.mapping.apply_mapping` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.attributes import Attribute
from kernel.errors import BadRow

__all__ = [
    "DATE_KINDS",
    "NUMBER_KINDS",
    "SETTLED_COLUMN",
    "SETTLED_PAYMENT_PREFIX",
    "ImportMapping",
    "MappedFrame",
    "TableMapping",
]

# Name of the extra column (invoices only) holding the settled date when mapped.
SETTLED_COLUMN = "settled_date"
SETTLED_PAYMENT_PREFIX = "SETTLED-"

# Column kinds read as dates, and as numbers.
DATE_KINDS = ("date", "datetime")
NUMBER_KINDS = ("money", "int")


@dataclass(frozen=True)
class TableMapping:
    """How to read and convert one canonical table's file."""

    table: str
    file: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    date_format: str | None = None
    decimal: str = "."
    thousands: str | None = None
    settled_date: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    # Issue-time attributes ([invoices.attributes]; see `features.attributes`).
    attributes: tuple[Attribute, ...] = ()

    def source_column(self, canonical: str) -> str:
        """The file's column that holds `canonical`."""
        if canonical == SETTLED_COLUMN and self.settled_date:
            return self.settled_date
        return self.columns.get(canonical, canonical)

    def date_format_for(self, canonical: str) -> str | None:
        """strptime format of a date column, or None for ISO 8601."""
        return self.date_formats.get(canonical, self.date_format)

    def candidate_files(self) -> list[str]:
        """File names to look for, in order of preference."""
        if self.file:
            return [self.file]
        return [f"{self.table}.csv", f"{self.table}.parquet"]

    def csv_delimiter(self, path: Path) -> str:
        """The delimiter to read `path` with (tab for .tsv unless the mapping says)."""
        if self.delimiter:
            return self.delimiter
        return "\t" if path.suffix.lower() == ".tsv" else ","


@dataclass(frozen=True)
class ImportMapping:
    """A parsed mapping file: one `TableMapping` per canonical table."""

    tables: dict[str, TableMapping]
    source: str = "(canonical format)"

    def for_table(self, table: str) -> TableMapping:
        """The mapping of `table` (the canonical defaults if the file does not name it)."""
        return self.tables[table]

    @property
    def derives_payments(self) -> bool:
        """Whether invoices carry a settled date from which payments are derived."""
        return self.tables["invoices"].settled_date is not None


@dataclass(frozen=True)
class MappedFrame:
    """A file's rows renamed to canonical columns, values still raw (strings or native).

    `labels` gives, per canonical column, the name to show the user (their column);
    `problems` lists structural problems found while mapping (missing columns).
    """

    table: str
    file: str
    frame: pd.DataFrame
    labels: dict[str, str]
    mapping: TableMapping
    problems: list[BadRow]
