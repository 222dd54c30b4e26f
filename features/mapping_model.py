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
from kernel.schema import TABLES, ColumnKind

__all__ = [
    "CREDIT_NOTE_PREFIX",
    "DATE_KINDS",
    "EXTRA_KINDS",
    "LINE_TOTALS",
    "NEGATIVE_RULES",
    "NUMBER_KINDS",
    "PAID_PAYMENT_PREFIX",
    "SETTLED_COLUMN",
    "SETTLED_PAYMENT_PREFIX",
    "ImportMapping",
    "MappedFrame",
    "TableMapping",
]

# Name of the extra column (invoices only) holding the settled date when mapped.
SETTLED_COLUMN = "settled_date"
SETTLED_PAYMENT_PREFIX = "SETTLED-"
# Payment derived from a paid amount or balance, and credit note from a negative invoice.
PAID_PAYMENT_PREFIX = "PAID-"
CREDIT_NOTE_PREFIX = "CN-"
NEGATIVE_RULES = ("reject", "credit_note")
# How line items carry the invoice amount: each line its own part ("sum"), or every line
# the whole invoice's total ("repeated", as Zoho's invoice export writes it).
LINE_TOTALS = ("sum", "repeated")

# Extra invoice columns a mapping can name (not stored as such), and their kinds.
EXTRA_KINDS: dict[str, ColumnKind] = {
    SETTLED_COLUMN: "date",
    "paid_amount": "money",
    "balance": "money",
    "last_payment_date": "date",
    "terms": "str",
    "credit_for": "str",
    "void": "str",
    "customer_name": "str",
}

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
    # Which rows and how: sheet of a workbook, title lines, row filters, generated key.
    sheet: str | int | None = None
    skip_rows: int = 0
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    where_not: dict[str, tuple[str, ...]] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    row_key: bool = False
    # [invoices] only: line items, credit notes, paid amounts, terms, voids.
    lines: bool = False
    line_totals: str = "sum"
    negative: str = "reject"
    credit_for: str | None = None
    paid_amount: str | None = None
    balance: str | None = None
    last_payment_date: str | None = None
    terms: str | None = None
    terms_codes: dict[str, int] = field(default_factory=dict)
    terms_days: int | None = None
    void_column: str | None = None
    void_values: tuple[str, ...] = ()
    customer_name: str | None = None
    # [customers] only: one customer per distinct invoice customer, no file read.
    from_invoices: bool = False

    def extra_columns(self) -> dict[str, str]:
        """The extra (not stored) columns this mapping names: our name -> their column."""
        named = {
            SETTLED_COLUMN: self.settled_date,
            "paid_amount": self.paid_amount,
            "balance": self.balance,
            "last_payment_date": self.last_payment_date,
            "terms": self.terms,
            "credit_for": self.credit_for,
            "void": self.void_column,
            "customer_name": self.customer_name,
        }
        return {name: their for name, their in named.items() if their is not None}

    def source_column(self, canonical: str) -> str:
        """The file's column that holds `canonical`."""
        extra = self.extra_columns().get(canonical)
        if extra is not None:
            return extra
        return self.columns.get(canonical, canonical)

    @property
    def generates_key(self) -> bool:
        """Whether the table's id is generated (`key`) rather than read from a column."""
        return self.row_key or bool(self.key)

    @property
    def fills_due_date(self) -> bool:
        """Whether an empty due date is computed from payment terms."""
        return self.terms is not None or self.terms_days is not None

    def required(self, canonical: str) -> bool:
        """Whether every row must have a value of `canonical` (after mapping)."""
        if canonical in EXTRA_KINDS:
            return False
        if canonical == "due_date" and self.fills_due_date:
            return False
        return TABLES[self.table].column(canonical).required

    def their_columns(self) -> set[str]:
        """Every column of the file this mapping reads (canonical, extra, filters, key)."""
        spec = TABLES[self.table]
        used = {self.source_column(n) for n in spec.column_names if n != spec.key}
        if not self.generates_key:
            used.add(self.source_column(spec.key))
        used |= set(self.extra_columns().values()) | set(self.where) | set(self.where_not)
        used |= set(self.key) | {a.column or a.name for a in self.attributes}
        return used

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
        """Whether payments are derived from the invoices (settled date, paid amount, balance)."""
        invoices = self.tables["invoices"]
        return any(
            c is not None for c in (invoices.settled_date, invoices.paid_amount, invoices.balance)
        )

    @property
    def derives_customers(self) -> bool:
        """Whether customers are derived from the invoices (no customers file)."""
        return self.tables["customers"].from_invoices


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
