"""The mapping keys that reshape a file's rows: their TOML checks.

Filters (`where`, `where_not`), generated keys (`key`), flags such as `lines`, day counts
(`skip_rows`, `terms_days`), `[invoices.terms_codes]` and `void`, each checked with a
`MappingError` that names the file, the table, the key and what is allowed. The keys
themselves are documented in `features.mapping`.
"""

from __future__ import annotations

from typing import Any

from features.mapping_model import EXTRA_KINDS, LINE_TOTALS, NEGATIVE_RULES
from kernel import limits
from kernel.errors import MappingError

__all__ = [
    "EXTRA_DATES",
    "parse_count",
    "parse_filters",
    "parse_flag",
    "parse_key",
    "parse_reshape",
    "parse_terms_codes",
    "parse_void",
]

# The extra invoice columns read as dates (their formats may be given in date_formats).
EXTRA_DATES = tuple(n for n, kind in EXTRA_KINDS.items() if kind == "date")
_MAX_SKIP_ROWS = 1_000_000


def parse_reshape(
    section: dict[str, Any], table: str, where: str, *, file: str | None, id_mapped: bool
) -> dict[str, Any]:
    """The reshaping keys of one section, as `TableMapping` keyword arguments."""
    texts = {n: _optional_str(section, n, where) for n in EXTRA_KINDS if n != "void"}
    void_column, void_values = parse_void(section, where)
    sheet = section.get("sheet")
    if sheet is not None:
        if (
            isinstance(sheet, bool)
            or not isinstance(sheet, str | int)
            or sheet == ""
            or (isinstance(sheet, int) and sheet < 0)
        ):
            raise MappingError(
                f'{where}: sheet must be a sheet name (e.g. "Invoices") or its 0-based number, '
                f"got {sheet!r}"
            )
        if file is None or not file.lower().endswith(".xlsx"):
            raise MappingError(f"{where}: sheet is only read from an .xlsx file; file is {file!r}")
    key, row_key = parse_key(section, where)
    if (key or row_key) and id_mapped:
        raise MappingError(
            f"{where}: key generates the {table} id, so it cannot also be mapped in "
            f"[{table}.columns]; remove one of them"
        )
    negative = section.get("negative", "reject")
    if negative not in NEGATIVE_RULES:
        raise MappingError(f'{where}: negative must be "reject" or "credit_note", got {negative!r}')
    if texts["credit_for"] is not None and negative != "credit_note":
        raise MappingError(f'{where}: credit_for is only read with negative = "credit_note"')
    line_totals = section.get("line_totals", "sum")
    if line_totals not in LINE_TOTALS:
        raise MappingError(f'{where}: line_totals must be "sum" or "repeated", got {line_totals!r}')
    if "line_totals" in section and not section.get("lines"):
        raise MappingError(f"{where}: line_totals is only read with lines = true")
    if texts["last_payment_date"] is not None and not (texts["paid_amount"] or texts["balance"]):
        raise MappingError(f"{where}: last_payment_date needs paid_amount or balance")
    return {
        **texts,
        "sheet": sheet,
        "skip_rows": parse_count(section, "skip_rows", where, 0, _MAX_SKIP_ROWS) or 0,
        "where": parse_filters(section, "where", where),
        "where_not": parse_filters(section, "where_not", where),
        "key": key,
        "row_key": row_key,
        "lines": parse_flag(section, "lines", where),
        "line_totals": line_totals,
        "negative": negative,
        "terms_codes": parse_terms_codes(section, where),
        "terms_days": parse_count(section, "terms_days", where, 0, limits.TERMS_DAYS_MAX),
        "void_column": void_column,
        "void_values": void_values,
        "from_invoices": parse_flag(section, "from_invoices", where),
    }


def _optional_str(section: dict[str, Any], key: str, where: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value.strip()


def parse_flag(section: dict[str, Any], key: str, where: str) -> bool:
    """A true/false key (false when absent)."""
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise MappingError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def parse_count(section: dict[str, Any], key: str, where: str, low: int, high: int) -> int | None:
    """A whole number from `low` to `high` (None when absent)."""
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MappingError(
            f"{where}: {key} must be a whole number from {low} to {high}, got {value!r}"
        )
    return value


def parse_filters(section: dict[str, Any], key: str, where: str) -> dict[str, tuple[str, ...]]:
    """[T.where] / [T.where_not]: "Their Column" = ["value", ...] (trimmed)."""
    raw = section.get(key, {})
    example = f'e.g. [{where.rsplit("[", 1)[-1].rstrip("]")}.{key}] "Type" = ["Invoice"]'
    if not isinstance(raw, dict):
        raise MappingError(f"{where}.{key} must be a table of column = [values], {example}")
    out: dict[str, tuple[str, ...]] = {}
    for column, values in raw.items():
        if isinstance(values, str):
            values = [values]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            raise MappingError(
                f"{where}.{key}: {column!r} must be a non-empty list of texts, {example}; "
                f"got {values!r}"
            )
        out[column.strip()] = tuple(v.strip(limits.BLANKS) for v in values)
    return out


def parse_key(section: dict[str, Any], where: str) -> tuple[tuple[str, ...], bool]:
    """`key`: "row", or the list of their columns the id is made of; (columns, is "row")."""
    raw = section.get("key")
    if raw is None:
        return (), False
    if raw == "row":
        return (), True
    ok = isinstance(raw, list) and raw and all(isinstance(c, str) and c.strip() for c in raw)
    if not ok or len(set(raw)) != len(raw):
        raise MappingError(
            f'{where}: key must be "row" or a list of distinct column names, e.g. '
            f'key = ["School Year", "Student", "Fee"]; got {raw!r}'
        )
    return tuple(c.strip() for c in raw), False


def parse_terms_codes(section: dict[str, Any], where: str) -> dict[str, int]:
    """[invoices.terms_codes]: their terms text = days."""
    raw = section.get("terms_codes", {})
    if not isinstance(raw, dict):
        raise MappingError(f'{where}.terms_codes must be a table, e.g. "Net 30" = 30')
    for code in raw:
        parse_count(raw, code, f"{where}.terms_codes", 0, limits.TERMS_DAYS_MAX)
    return {str(code).strip(limits.BLANKS): days for code, days in raw.items()}


def parse_void(section: dict[str, Any], where: str) -> tuple[str | None, tuple[str, ...]]:
    """`void = { column = "Status", values = ["Void", ...] }`: (column, values)."""
    raw = section.get("void")
    if raw is None:
        return None, ()
    column = raw.get("column") if isinstance(raw, dict) else None
    values = raw.get("values") if isinstance(raw, dict) else None
    if (
        not isinstance(raw, dict)
        or set(raw) != {"column", "values"}
        or not isinstance(column, str)
        or not column.strip()
        or not isinstance(values, list)
        or not values
        or not all(isinstance(v, str) for v in values)
    ):
        raise MappingError(
            f'{where}: void must be {{ column = "Status", values = ["Void", "Cancelled"] }}, '
            f"got {raw!r}"
        )
    return column.strip(), tuple(v.strip(limits.BLANKS) for v in values)
