"""Convert mapped files to canonical types, vectorised, recording unreadable values.

Each conversion is one vectorised pandas expression over a whole column; the problems
(unreadable values, empty required ones, values outside `kernel.limits`) go to the
import's `Problems`. The row rules that need the typed values are in `features.validate`.

Canonical dtypes of a `TypedFrame` (index = physical line in the file):
str -> pandas string (missing = NA), date -> datetime64 at midnight, datetime ->
datetime64 UTC, money -> float64 rounded to cents, int -> Int64, bool -> boolean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.mapping_model import EXTRA_KINDS, MappedFrame
from features.problems import Problems
from features.store import TABLE_OBJECTS
from kernel import limits
from kernel.schema import TABLES, ColumnKind

__all__ = ["TypedFrame", "convert", "empty_column", "is_in", "normalise"]

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?$"
_BOOL_TEXT = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


@dataclass
class TypedFrame:
    """One file's rows in canonical types.

    `present` lists the canonical columns the file actually carried (or the mapping
    filled): an update never overwrites a column the file did not have.
    """

    table: str
    file: str
    frame: pd.DataFrame
    labels: dict[str, str]
    present: list[str]

    def label(self, column: str) -> str:
        """The column name as the user's file spells it."""
        return self.labels.get(column, column)


def is_in(values: pd.Series | pd.Index, known: Iterable[str] | pd.Index) -> np.ndarray:
    """Which `values` are among `known` (missing values never are), as a bool array.

    Hash-based through Arrow: pandas' `isin` on Arrow-backed strings loops in Python.
    """
    haystack = pa.array(
        pd.Series(list(known) if not isinstance(known, pd.Index) else known, dtype="str"),
        from_pandas=True,
    )
    needles = pa.array(pd.Series(values, dtype="str"), from_pandas=True)
    found = pc.is_in(needles, value_set=haystack.drop_null())
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def _missing(column: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(column):
        return column.isna() | (column == "")
    return column.isna()


def _quote(values: pd.Series) -> Callable[[int], str]:
    shown = values.reset_index(drop=True)
    return lambda i: repr(str(shown.iloc[i])[:60])


def _with_reason(values: pd.Series, template: str) -> Callable[[int], str]:
    quote = _quote(values)
    return lambda i: template.format(value=quote(i))


def _parse_dates(
    column: pd.Series, *, kind: ColumnKind, fmt: str | None
) -> tuple[pd.Series, pd.Series]:
    """Parsed dates and a mask of values present but unreadable."""
    missing = _missing(column)
    utc = kind == "datetime"
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = pd.to_datetime(column, utc=utc) if utc else column
    else:
        text = column.where(~missing, None)
        parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=utc)
        if fmt is not None:
            # Excel date cells come back as ISO text whatever the sheet displays; a
            # year-first ISO date cannot be mistaken for another format.
            iso = parsed.isna() & ~missing & text.astype("str").str.match(_ISO_DATE)
            if iso.any():
                parsed = parsed.where(
                    ~iso,
                    pd.to_datetime(text.where(iso), format="ISO8601", errors="coerce", utc=utc),
                )
    if kind == "date":
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        parsed = parsed.dt.normalize()
    return parsed, parsed.isna() & ~missing


def _parse_numbers(column: pd.Series, *, kind: ColumnKind) -> tuple[pd.Series, pd.Series]:
    missing = _missing(column)
    if pd.api.types.is_bool_dtype(column):
        numbers = pd.Series(np.nan, index=column.index)
    elif pd.api.types.is_numeric_dtype(column):
        numbers = column.astype("float64")
    else:
        numbers = pd.to_numeric(column.where(~missing, None), errors="coerce").astype("float64")
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    # Beyond what the store's INTEGER columns hold; amounts get their bounds in `convert`.
    limit = np.inf if kind == "money" else 2.0**31
    finite = np.isfinite(values) & (np.abs(np.nan_to_num(values)) < limit)
    bad = ~missing & ~finite
    if kind == "int":
        whole = numbers.where(finite, 0.0)
        bad |= whole != np.floor(whole)
        return numbers.where(~bad).round().astype("Int64"), bad
    # Not rounded yet: an amount below a cent must be told apart from 0 (see `convert`).
    return numbers.where(~bad), bad


def _dates_out_of_range(parsed: pd.Series, kind: ColumnKind) -> np.ndarray:
    """Which parsed dates fall outside `Settings.date_min .. date_max` (a datetime by UTC day)."""
    low, high = limits.date_range()
    start, end = pd.Timestamp(low), pd.Timestamp(high) + pd.Timedelta(days=1)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        start, end = start.tz_localize("UTC"), end.tz_localize("UTC")
    outside = (parsed < start) | (parsed >= end)
    return outside.fillna(False).to_numpy(dtype=bool)


def _out_of_range_reason(values: pd.Series, label: str, kind: ColumnKind) -> Callable[[int], str]:
    shown = values.reset_index(drop=True)

    def reason(i: int) -> str:
        value = shown.iloc[i].to_pydatetime()
        return str(limits.date_problem(value.date() if kind == "date" else value, label))

    return reason


def _amounts_out_of_bounds(values: pd.Series) -> np.ndarray:
    """Amounts that are not 0 but below one cent, or above `limits.AMOUNT_MAX`."""
    size = np.abs(values.to_numpy(dtype="float64", na_value=np.nan))
    with np.errstate(invalid="ignore"):
        return ((size > 0) & (size < limits.AMOUNT_MIN)) | (size > limits.AMOUNT_MAX)


def _amount_reason(values: pd.Series, label: str) -> Callable[[int], str]:
    shown = values.reset_index(drop=True)
    return lambda i: str(limits.amount_problem(float(shown.iloc[i]), label, allow_zero=True))


def _text_reason(values: pd.Series, label: str, *, free_text: bool) -> Callable[[int], str]:
    shown = values.reset_index(drop=True)
    return lambda i: str(limits.text_problem(shown.iloc[i], label, free_text=free_text))


def _control_characters(text: pd.Series, *, free_text: bool) -> np.ndarray:
    """Which values hold a control character (tab and line breaks allowed in free text)."""
    pattern = limits.FREE_TEXT_CONTROL_PATTERN if free_text else limits.CONTROL_PATTERN
    found = text.str.contains(pattern, regex=True)
    return found.fillna(False).to_numpy(dtype=bool)


def _parse_bools(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    missing = _missing(column)
    if pd.api.types.is_bool_dtype(column):
        return column.astype("boolean"), pd.Series(False, index=column.index)
    if pd.api.types.is_numeric_dtype(column):
        parsed = column.map({1: True, 0: False})
    else:
        parsed = column.astype("str").str.strip().str.lower().map(_BOOL_TEXT)
    parsed = parsed.astype("boolean")
    return parsed, parsed.isna() & ~missing


def convert(mapped: MappedFrame, problems: Problems) -> TypedFrame:
    """Parse every column of a mapped file into its canonical type.

    Problems recorded: structural ones from mapping (missing columns), unreadable
    values (dates, numbers, booleans, whole numbers), empty required values, texts
    longer than the store's column, and the bounds of `kernel.limits` every door
    shares: dates outside the settings' range, amounts below a cent or above the
    maximum, control characters in texts. A value out of bounds is left empty in the
    typed frame, so no later check reports it twice.
    """
    problems.extend(mapped.problems)
    spec = TABLES[mapped.table]
    source = mapped.frame
    is_required = mapped.mapping.required
    columns = [(c.name, c.kind, is_required(c.name)) for c in spec.columns]
    # The extra columns a mapping names (settled date, paid amount, terms, ...).
    columns += [(n, kind, False) for n, kind in EXTRA_KINDS.items() if n in source.columns]
    out = pd.DataFrame(index=source.index)
    for name, kind, required in columns:
        if name not in source.columns:
            out[name] = empty_column(kind, source.index)
            continue
        out[name] = _convert_column(mapped, name, kind, required=required, problems=problems)
    present = [n for n, *_ in columns if n in source.columns]
    return TypedFrame(mapped.table, mapped.file, out, dict(mapped.labels), present)


def _convert_column(
    mapped: MappedFrame, name: str, kind: ColumnKind, *, required: bool, problems: Problems
) -> pd.Series:
    """One column in its canonical type; unreadable and empty required values recorded."""
    source = mapped.frame
    column = source[name]
    label = mapped.labels.get(name, name)
    if kind in ("date", "datetime"):
        parsed, bad, template = _convert_dates(mapped, name, kind, label, problems)
    elif kind in ("money", "int"):
        parsed, bad, template = _convert_numbers(mapped, name, kind, label, problems)
    elif kind == "bool":
        parsed, bad = _parse_bools(column)
        template = "cannot read {value} as true/false (map other spellings in the mapping)"
    else:
        parsed, bad, template = _convert_text(mapped, name, label, problems)
    mask = bad.to_numpy(dtype=bool)
    problems.add(mapped.file, source.index[mask], label, _with_reason(column[mask], template))
    if required:
        empty = _missing(column).to_numpy(dtype=bool)
        problems.add(mapped.file, source.index[empty], label, f"{name} is required but empty")
    return parsed


def _convert_dates(
    mapped: MappedFrame, name: str, kind: ColumnKind, label: str, problems: Problems
) -> tuple[pd.Series, pd.Series, str]:
    """Parsed dates (those outside the settings' range recorded, then left empty)."""
    source = mapped.frame
    fmt = mapped.mapping.date_format_for(name)
    parsed, bad = _parse_dates(source[name], kind=kind, fmt=fmt)
    expected = fmt or ("YYYY-MM-DD" if kind == "date" else "ISO 8601")
    template = (
        f"cannot read {{value}} as a date (expected {expected}; the mapping's "
        "date_format sets another)"
    )
    outside = _dates_out_of_range(parsed, kind)
    problems.add(
        mapped.file,
        source.index[outside],
        label,
        _out_of_range_reason(parsed[outside], label, kind),
    )
    return parsed.mask(outside), bad, template


def _convert_numbers(
    mapped: MappedFrame, name: str, kind: ColumnKind, label: str, problems: Problems
) -> tuple[pd.Series, pd.Series, str]:
    """Parsed numbers; amounts out of bounds recorded, then left empty, the rest in cents."""
    source = mapped.frame
    parsed, bad = _parse_numbers(source[name], kind=kind)
    if kind != "money":
        return parsed, bad, "cannot read {value} as a whole number"
    template = (
        "cannot read {value} as an amount (expected e.g. 1234.50; the mapping's "
        "decimal and thousands read other styles)"
    )
    outside = _amounts_out_of_bounds(parsed)
    problems.add(
        mapped.file,
        source.index[outside],
        label,
        _amount_reason(parsed[outside], label),
    )
    return parsed.mask(outside).round(2), bad, template


def _convert_text(
    mapped: MappedFrame, name: str, label: str, problems: Problems
) -> tuple[pd.Series, pd.Series, str]:
    """Trimmed text; control characters and texts longer than the store's column recorded."""
    source = mapped.frame
    column = source[name]
    store = TABLE_OBJECTS[mapped.table]
    text = column if pd.api.types.is_string_dtype(column) else column.astype("str")
    parsed = text.str.strip(limits.BLANKS).replace("", pd.NA).astype("str")
    bad = pd.Series(False, index=source.index)
    free_text = name in limits.FREE_TEXT_FIELDS
    control = _control_characters(parsed, free_text=free_text)
    problems.add(
        mapped.file,
        source.index[control],
        label,
        _text_reason(parsed[control], label, free_text=free_text),
    )
    limit = getattr(store.c[name].type, "length", None) if name in store.c else None
    if limit:
        too_long = parsed.str.len().fillna(0) > limit
        problems.add(
            mapped.file,
            source.index[too_long.to_numpy()],
            label,
            _with_reason(parsed[too_long], f"{{value}} is longer than {limit} characters"),
        )
    return parsed, bad, ""


def empty_column(kind: ColumnKind, index: pd.Index) -> pd.Series:
    """A column of `kind` with every value missing, in the canonical dtype."""
    dtype = {
        "str": "str",
        "date": "datetime64[ns]",
        "datetime": "datetime64[ns, UTC]",
        "money": "float64",
        "int": "Int64",
        "bool": "boolean",
    }[kind]
    return pd.Series(pd.NA if kind in ("int", "bool") else None, index=index, dtype=dtype)


def normalise(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Rows read back from the store in the same canonical dtypes as `convert` makes."""
    spec = TABLES[table]
    out = pd.DataFrame(index=frame.index)
    for column in spec.columns:
        values = frame[column.name]
        if column.kind == "date":
            out[column.name] = pd.to_datetime(values).astype("datetime64[ns]").dt.normalize()
        elif column.kind == "datetime":
            parsed = pd.to_datetime(values)
            if isinstance(parsed.dtype, pd.DatetimeTZDtype):
                parsed = parsed.dt.tz_convert("UTC")
            else:  # SQLite hands back naive values, stored as UTC
                parsed = parsed.dt.tz_localize("UTC")
            out[column.name] = parsed.astype("datetime64[ns, UTC]")
        elif column.kind == "money":
            out[column.name] = pd.to_numeric(values).astype("float64").round(2)
        elif column.kind == "int":
            out[column.name] = pd.to_numeric(values).astype("Int64")
        elif column.kind == "bool":
            out[column.name] = values.astype("boolean")
        else:
            out[column.name] = values.astype("str").where(values.notna(), pd.NA).astype("str")
    return out
