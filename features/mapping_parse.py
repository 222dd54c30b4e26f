"""Read a column-mapping file (the format documented in `features.mapping`) and check it.

Every check raises `MappingError` naming the file, the table and the key to fix, before
any data file is read; the checks run in the order of the keys in the documented example.
"""

from __future__ import annotations

import codecs
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from features.attributes import ATTRIBUTE_KINDS, Attribute, name_problem
from features.mapping_model import (
    DATE_KINDS,
    NUMBER_KINDS,
    ImportMapping,
    TableMapping,
)
from features.readers import CSV_SUFFIXES, PARQUET_SUFFIXES
from features.reshape_options import EXTRA_DATES, parse_reshape
from kernel import limits
from kernel.errors import MappingError
from kernel.schema import IMPORT_ORDER, TABLES

__all__ = ["load_mapping", "parse_mapping"]

_READ_OPTIONS = ("delimiter", "encoding", "date_format", "decimal", "thousands")
_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES + (".xlsx",)
# Keys only one table reads (the rest are read by every table).
_INVOICE_KEYS = (
    "settled_date",
    "lines",
    "line_totals",
    "negative",
    "credit_for",
    "paid_amount",
    "balance",
    "last_payment_date",
    "terms",
    "terms_codes",
    "terms_days",
    "void",
    "customer_name",
)
_ONLY = {**dict.fromkeys(_INVOICE_KEYS, "invoices"), "from_invoices": "customers"}
_TABLE_KEYS = (
    "file",
    "sheet",
    "skip_rows",
    *_READ_OPTIONS,
    "where",
    "where_not",
    "key",
    "columns",
    "date_formats",
    "values",
    "defaults",
    "attributes",
    *_ONLY,
)
# What a [customers] section with from_invoices = true may hold: no file is read.
_FROM_INVOICES_KEYS = ("from_invoices", "defaults")


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
    own = sections.get("customers", {})
    if own.get("from_invoices") is True:
        extra = sorted(set(own) - set(_FROM_INVOICES_KEYS))
        if extra:
            raise MappingError(
                f"{source}: [customers] from_invoices = true reads no customers file, so "
                f"{', '.join(map(repr, extra))} cannot be used; allowed with it: "
                f"{', '.join(_FROM_INVOICES_KEYS)}"
            )
    tables = {
        name: _table_mapping(name, {**defaults, **sections.get(name, {})}, source)
        for name in IMPORT_ORDER
    }
    return ImportMapping(tables=tables, source=source)


def _table_mapping(table: str, section: dict[str, Any], source: str) -> TableMapping:
    """One table's section, checked in the order of the documented example."""
    where = f"{source}: [{table}]"
    unknown = sorted(set(section) - set(_TABLE_KEYS))
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(_TABLE_KEYS)}"
        )
    for key, owner in _ONLY.items():
        if key in section and table != owner:
            raise MappingError(f"{where}: {key} is only meaningful for [{owner}]")
    spec = TABLES[table]
    file = _optional_str(section, "file", where)
    if file is not None and not file.lower().endswith(_SUFFIXES):
        raise MappingError(f"{where}: file {file!r} must end in one of {', '.join(_SUFFIXES)}")
    columns = _str_table(section, "columns", where)
    _check_columns(columns, spec.column_names, f"{where}.columns")
    reshape = parse_reshape(section, table, where, file=file, id_mapped=spec.key in columns)
    date_columns = {c.name for c in spec.columns if c.kind in DATE_KINDS}
    date_columns |= {n for n in EXTRA_DATES if reshape[n] is not None}
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

    date_formats = _str_table(section, "date_formats", where)
    for name, fmt in date_formats.items():
        if name not in date_columns:
            raise MappingError(
                f"{where}.date_formats: {name!r} is not a date column of {table}; date columns: "
                f"{', '.join(sorted(date_columns)) or '(none)'}"
            )
        _check_date_format(fmt, f"{where}.date_formats.{name}")

    values = _value_maps(section, table, where, date_formats, date_format)
    defaults = _defaults(section, table, where, date_formats, date_format)
    attributes = _attributes(section, table, where)
    return TableMapping(
        table=table,
        file=file,
        delimiter=delimiter,
        encoding=encoding,
        date_format=date_format,
        decimal=decimal,
        thousands=thousands,
        columns=columns,
        date_formats=date_formats,
        values=values,
        defaults=defaults,
        attributes=attributes,
        **reshape,
    )


def _value_maps(
    section: dict[str, Any],
    table: str,
    where: str,
    date_formats: Mapping[str, str],
    date_format: str | None,
) -> dict[str, dict[str, str]]:
    """The `values` tables: per column, their values as the text our converters read."""
    spec = TABLES[table]
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
        values[name] = {
            str(k).strip(): _as_text(
                v, kinds[name], date_formats.get(name, date_format), f"{where}.values.{name}.{k}"
            )
            for k, v in value_map.items()
        }
    return values


def _defaults(
    section: dict[str, Any],
    table: str,
    where: str,
    date_formats: Mapping[str, str],
    date_format: str | None,
) -> dict[str, str]:
    """The `defaults` table: per column, the text our converters read."""
    spec = TABLES[table]
    kinds = {c.name: c.kind for c in spec.columns}
    raw_defaults = section.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        raise MappingError(f"{where}.defaults must be a table: canonical column = value")
    _check_columns(dict(raw_defaults), spec.column_names, f"{where}.defaults")
    return {
        name: _as_text(
            v, kinds[name], date_formats.get(name, date_format), f"{where}.defaults.{name}"
        )
        for name, v in raw_defaults.items()
    }


def _attributes(section: dict[str, Any], table: str, where: str) -> tuple[Attribute, ...]:
    """The `attributes` table: name = "kind", or name = { column = "...", kind = "..." }."""
    raw = section.get("attributes", {})
    if raw and table != "invoices":
        raise MappingError(f"{where}: attributes are only read from [invoices]")
    if not isinstance(raw, dict):
        raise MappingError(
            f'{where}.attributes must be a table, e.g. channel = {{ column = "Billing Channel", '
            'kind = "category" }'
        )
    kinds = " or ".join(f'"{k}"' for k in ATTRIBUTE_KINDS)
    out: list[Attribute] = []
    for name, entry in raw.items():
        at = f"{where}.attributes.{name}"
        problem = name_problem(name)
        if problem is not None:
            raise MappingError(f"{at}: {problem}")
        if isinstance(entry, str):
            entry = {"kind": entry}
        if not isinstance(entry, dict) or sorted(set(entry) - {"column", "kind"}):
            raise MappingError(
                f'{at} must be {kinds}, or a table {{ column = "Their Column", kind = ... }}; '
                f"got {entry!r}"
            )
        kind, column = entry.get("kind"), entry.get("column", name)
        if kind not in ATTRIBUTE_KINDS:
            raise MappingError(f"{at}: kind must be {kinds}, got {kind!r}")
        if not isinstance(column, str) or not column.strip():
            raise MappingError(f"{at}: column must be a non-empty string, got {column!r}")
        out.append(Attribute(name, kind, column.strip()))
    columns = [a.column or a.name for a in out]
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise MappingError(f"{where}.attributes: column(s) {twice} are declared twice")
    return tuple(out)


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
    if kind in NUMBER_KINDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MappingError(f"{where}: {value!r} must be a number")
        return repr(value)
    if kind in DATE_KINDS:
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
