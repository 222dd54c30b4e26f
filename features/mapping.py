"""Column-mapping files: how a foreign export maps onto the canonical tables.

Real ERP exports never use our column names, date formats or value spellings. A
mapping file (TOML) says, per canonical table, which file to read, how to read it,
which of its columns is which canonical column, and how to convert values. Every
key is optional; a table the mapping does not name is read in the canonical format
(`<table>.csv` or `<table>.parquet`, canonical column names, ISO dates).

A complete example::

    # Options at the top level are defaults for every table.
    encoding = "utf-8"

    [customers]
    file = "debtors.csv"
    [customers.columns]              # canonical name = "their column"
    customer_id = "Debtor"
    name = "Debtor Name"
    created_at = "Created"
    [customers.defaults]             # value when the column is absent or a value empty
    currency = "EUR"

    [invoices]
    file = "open_items.csv"          # relative to the import folder (.csv/.txt/.tsv/.parquet)
    delimiter = ";"                  # CSV field separator (default "," or tab for .tsv)
    encoding = "latin-1"             # CSV text encoding (default "utf-8")
    date_format = "%d.%m.%Y"         # strptime format of every date column of this table
    decimal = ","                    # decimal separator of money columns (default ".")
    thousands = "."                  # thousands separator to drop (default none)
    settled_date = "Clearing Date"   # invoices carry a paid date: derive the payments
    [invoices.columns]
    invoice_id = "Doc No"
    customer_id = "Customer"
    issue_date = "Doc Date"
    due_date = "Net Due"
    amount = "Amount"
    disputed = "In Dispute"
    [invoices.date_formats]          # per-column format, overrides date_format
    due_date = "%d/%m/%Y"
    settled_date = "%Y%m%d"
    [invoices.values.disputed]       # their value = canonical value
    "Yes" = true
    "No" = false
    [invoices.values.currency]
    "Euro" = "EUR"

`settled_date` derives one full payment per invoice whose settled-date value is not
empty: payment_id "SETTLED-<invoice_id>", the invoice's customer, amount = the invoice
amount, payment_date = the settled date. Re-importing derives the same ids, so the
import stays idempotent. The payments file is then optional (if present, its rows
are imported too).

Value maps replace the values they list (after trimming spaces) and leave other
values to the normal conversion; booleans also accept true/false, yes/no, y/n, 1/0
without a map. Files not named by the mapping keep their canonical defaults.
"""

from __future__ import annotations

import codecs
import logging
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from duecast import limits
from duecast.errors import BadRow, MappingError
from duecast.schema import IMPORT_ORDER, TABLES
from features.readers import CSV_SUFFIXES, PARQUET_SUFFIXES, RawFile

__all__ = [
    "SETTLED_COLUMN",
    "SETTLED_PAYMENT_PREFIX",
    "ImportMapping",
    "MappedFrame",
    "TableMapping",
    "apply_mapping",
    "load_mapping",
    "parse_mapping",
]

logger = logging.getLogger(__name__)

# Name of the extra column (invoices only) holding the settled date when mapped.
SETTLED_COLUMN = "settled_date"
SETTLED_PAYMENT_PREFIX = "SETTLED-"

_READ_OPTIONS = ("delimiter", "encoding", "date_format", "decimal", "thousands")
_TABLE_KEYS = (
    "file",
    *_READ_OPTIONS,
    "settled_date",
    "columns",
    "date_formats",
    "values",
    "defaults",
)
_DATE_KINDS = ("date", "datetime")
_NUMBER_KINDS = ("money", "int")


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


def load_mapping(path: Path | None) -> ImportMapping:
    """Read and validate a TOML mapping file; None gives the canonical format.

    Raises:
        MappingError: the file is missing, is not TOML, or names unknown things.
    """
    if path is None:
        return parse_mapping({})
    if not path.is_file():
        raise MappingError(f"mapping file {path} not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path.name}: not a valid TOML file: {exc}") from exc
    return parse_mapping(data, source=path.name)


def parse_mapping(data: dict[str, Any], *, source: str = "mapping") -> ImportMapping:
    """Validate a mapping's parsed TOML and build the per-table mappings.

    Raises:
        MappingError: unknown tables, options or columns, or unusable values.
    """
    defaults: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key in TABLES:
            if not isinstance(value, dict):
                raise MappingError(f"{source}: [{key}] must be a table, got {value!r}")
            sections[key] = value
        elif key in _READ_OPTIONS:
            defaults[key] = value
        else:
            raise MappingError(
                f"{source}: unknown table or option {key!r}; tables are "
                f"{', '.join(IMPORT_ORDER)} and top-level options are {', '.join(_READ_OPTIONS)}"
            )
    tables = {
        name: _table_mapping(name, {**defaults, **sections.get(name, {})}, source)
        for name in IMPORT_ORDER
    }
    return ImportMapping(tables=tables, source=source)


def _table_mapping(table: str, section: dict[str, Any], source: str) -> TableMapping:
    where = f"{source}: [{table}]"
    unknown = sorted(set(section) - set(_TABLE_KEYS))
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(_TABLE_KEYS)}"
        )
    spec = TABLES[table]
    settled = _optional_str(section, "settled_date", where)
    if settled is not None and table != "invoices":
        raise MappingError(f"{where}: settled_date is only meaningful for [invoices]")
    date_columns = {c.name for c in spec.columns if c.kind in _DATE_KINDS}
    if settled is not None:
        date_columns.add(SETTLED_COLUMN)

    file = _optional_str(section, "file", where)
    if file is not None and not file.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
        raise MappingError(
            f"{where}: file {file!r} must end in one of "
            f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
        )
    delimiter = _optional_str(section, "delimiter", where)
    if delimiter is not None and len(delimiter) != 1:
        raise MappingError(
            f'{where}: delimiter must be one character (e.g. ";"), got {delimiter!r}'
        )
    encoding = _optional_str(section, "encoding", where) or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise MappingError(
            f'{where}: unknown encoding {encoding!r}; use e.g. "utf-8", "latin-1" or "cp1252"'
        ) from exc
    decimal = _optional_str(section, "decimal", where) or "."
    thousands = _optional_str(section, "thousands", where)
    if decimal not in (".", ","):
        raise MappingError(f'{where}: decimal must be "." or ",", got {decimal!r}')
    if thousands is not None and (thousands == decimal or len(thousands) > 1):
        raise MappingError(
            f"{where}: thousands must be one character other than the decimal separator, "
            f"got {thousands!r}"
        )
    date_format = _optional_str(section, "date_format", where)
    if date_format is not None:
        _check_date_format(date_format, f"{where} date_format")

    columns = _str_table(section, "columns", where)
    _check_columns(columns, spec.column_names, f"{where}.columns")
    date_formats = _str_table(section, "date_formats", where)
    for name, fmt in date_formats.items():
        if name not in date_columns:
            raise MappingError(
                f"{where}.date_formats: {name!r} is not a date column of {table}; date columns: "
                f"{', '.join(sorted(date_columns)) or '(none)'}"
            )
        _check_date_format(fmt, f"{where}.date_formats.{name}")

    kinds = {c.name: c.kind for c in spec.columns}
    raw_values = section.get("values", {})
    if not isinstance(raw_values, dict):
        raise MappingError(f"{where}.values must be a table of tables, one per column")
    values: dict[str, dict[str, str]] = {}
    for name, value_map in raw_values.items():
        _check_columns({name: name}, spec.column_names, f"{where}.values")
        if not isinstance(value_map, dict) or not value_map:
            raise MappingError(
                f"{where}.values.{name} must map their values to ours, "
                f'e.g. [{table}.values.{name}] "Yes" = true'
            )
        fmt = date_formats.get(name, date_format)
        values[name] = {
            str(k).strip(): _as_text(v, kinds[name], fmt, f"{where}.values.{name}.{k}")
            for k, v in value_map.items()
        }

    raw_defaults = section.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        raise MappingError(f"{where}.defaults must be a table: canonical column = value")
    _check_columns(dict(raw_defaults), spec.column_names, f"{where}.defaults")
    defaults = {
        name: _as_text(
            v, kinds[name], date_formats.get(name, date_format), f"{where}.defaults.{name}"
        )
        for name, v in raw_defaults.items()
    }
    return TableMapping(
        table=table,
        file=file,
        delimiter=delimiter,
        encoding=encoding,
        date_format=date_format,
        decimal=decimal,
        thousands=thousands,
        settled_date=settled,
        columns=columns,
        date_formats=date_formats,
        values=values,
        defaults=defaults,
    )


def _optional_str(section: dict[str, Any], key: str, where: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise MappingError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _str_table(section: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = section.get(key, {})
    if not isinstance(value, dict):
        raise MappingError(f'{where}.{key} must be a table of name = "string" pairs')
    for name, item in value.items():
        if not isinstance(item, str) or not item.strip():
            raise MappingError(
                f'{where}.{key}: {name} must be a non-empty string (e.g. {name} = "Their Column"),'
                f" got {item!r}"
            )
    return {name: item.strip() if key == "columns" else item for name, item in value.items()}


def _check_columns(names: dict[str, Any], known: list[str], where: str) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise MappingError(
            f"{where}: unknown canonical column(s) {', '.join(map(repr, unknown))}; "
            f'the columns are {", ".join(known)} (write canonical = "their column")'
        )


def _check_date_format(fmt: str, where: str) -> None:
    probe = datetime(2024, 11, 28, 13, 45, 30)
    try:
        parsed = datetime.strptime(probe.strftime(fmt), fmt)
    except ValueError as exc:
        raise MappingError(
            f"{where}: {fmt!r} is not a usable date format ({exc}); "
            'use strptime codes, e.g. "%d.%m.%Y" or "%m/%d/%Y"'
        ) from exc
    if "%" not in fmt or parsed.date() != probe.date():
        raise MappingError(
            f"{where}: {fmt!r} does not name day, month and year; "
            'use strptime codes, e.g. "%d.%m.%Y" or "%m/%d/%Y"'
        )


def _as_text(value: Any, kind: str, date_format: str | None, where: str) -> str:
    """A TOML value as the text the column's converter reads."""
    if kind == "bool":
        if not isinstance(value, bool):
            raise MappingError(f"{where}: {value!r} must be true or false (a TOML boolean)")
        return "true" if value else "false"
    if kind in _NUMBER_KINDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MappingError(f"{where}: {value!r} must be a number")
        return repr(value)
    if kind in _DATE_KINDS:
        if isinstance(value, datetime | date):
            # Caught here, once, rather than on every row the default or value map fills.
            problem = limits.date_problem(value, where)
            if problem is not None:
                raise MappingError(problem)
            return value.strftime(date_format or "%Y-%m-%d")
        if isinstance(value, str):
            return value
        raise MappingError(f"{where}: {value!r} must be a date (e.g. 2024-01-31) or a string")
    if not isinstance(value, str):
        raise MappingError(f'{where}: {value!r} must be a string (e.g. "EUR")')
    return value


def apply_mapping(raw: RawFile, mapping: TableMapping) -> MappedFrame:
    """Rename a raw file's columns to canonical ones and apply the value conversions.

    Required columns that are missing, and explicitly mapped columns the file lacks,
    become `BadRow`s with line None; unknown extra columns are ignored (logged once).
    Surrounding blanks are stripped (`duecast.limits.BLANKS`: never a control
    character), numbers rewritten with "." as decimal separator, value maps and defaults
    applied; parsing into types is left to `features.validate`.
    """
    spec = TABLES[mapping.table]
    source = raw.frame
    found = list(source.columns)
    wanted = list(spec.column_names)
    if mapping.settled_date:
        wanted.append(SETTLED_COLUMN)

    frame = pd.DataFrame(index=source.index)
    labels: dict[str, str] = {}
    problems: list[BadRow] = []
    for name in wanted:
        their = mapping.source_column(name)
        labels[name] = their
        if their in source.columns:
            frame[name] = source[their]
            continue
        mapped = their != name
        required = name == SETTLED_COLUMN or TABLES[mapping.table].column(name).required
        if name in mapping.defaults and not mapped:
            continue
        if required or mapped:
            what = f"column {their!r} (mapped to {name})" if mapped else f"column {name!r}"
            problems.append(
                BadRow(
                    raw.name,
                    None,
                    their,
                    f"required {what} is missing; the file has: {', '.join(found)}",
                )
            )

    used = {mapping.source_column(n) for n in wanted}
    extra = [c for c in found if c not in used]
    if extra:
        logger.info(
            "%s: ignoring column(s) not in the %s table: %s",
            raw.name,
            mapping.table,
            ", ".join(extra),
        )

    kinds = {c.name: c.kind for c in spec.columns}
    kinds[SETTLED_COLUMN] = "date"
    for name in list(frame.columns):
        column = frame[name]
        if _is_text(column):
            # Control characters are not stripped: validation rejects them.
            column = column.str.strip(limits.BLANKS)
            if kinds[name] in _NUMBER_KINDS:
                column = _plain_number_text(column, mapping)
        if name in mapping.values:
            if not _is_text(column):
                column = column.astype("str")
            column = column.replace(mapping.values[name])
        frame[name] = column

    for name, text in mapping.defaults.items():
        if name not in frame.columns:
            frame[name] = pd.Series(text, index=frame.index, dtype="str")
        elif _is_text(frame[name]):
            frame[name] = frame[name].mask(frame[name] == "", text)
        else:
            frame[name] = frame[name].where(frame[name].notna(), text)
    return MappedFrame(
        table=mapping.table,
        file=raw.name,
        frame=frame,
        labels=labels,
        mapping=mapping,
        problems=problems,
    )


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column)


def _plain_number_text(column: pd.Series, mapping: TableMapping) -> pd.Series:
    """Drop thousands separators and turn a decimal comma into a point."""
    if mapping.thousands:
        column = column.str.replace(mapping.thousands, "", regex=False)
    if mapping.decimal != ".":
        column = column.str.replace(mapping.decimal, ".", regex=False)
    return column
