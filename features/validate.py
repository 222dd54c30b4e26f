"""Convert mapped files to canonical types and validate every row, vectorised.

Each check is one vectorised pandas expression over a whole file; `BadRow` objects
are built only for the rows that fail (and only up to the error cap, while the total
is still counted). Nothing here touches the database: the importer passes in what
the store already holds (known customers, known invoices) for the reference checks.

Canonical dtypes of a `TypedFrame` (index = physical line in the file):
str -> pandas string (missing = NA), date -> datetime64 at midnight, datetime ->
datetime64 UTC, money -> float64 rounded to cents, int -> Int64, bool -> boolean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from duecast import limits
from duecast.errors import BadRow, DataImportError
from duecast.schema import ACTION_KINDS, ADJUSTMENT_KINDS, TABLES, ColumnKind
from features.mapping import SETTLED_COLUMN, SETTLED_PAYMENT_PREFIX, MappedFrame
from features.store import TABLE_OBJECTS

__all__ = [
    "Problems",
    "TypedFrame",
    "check_duplicates",
    "check_references",
    "check_rows",
    "convert",
    "derive_settled_payments",
    "is_in",
    "normalise",
]

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_BOOL_TEXT = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


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
    longer than the store's column, and the bounds of `duecast.limits` every door
    shares: dates outside the settings' range, amounts below a cent or above the
    maximum, control characters in texts. A value out of bounds is left empty in the
    typed frame, so no later check reports it twice.
    """
    problems.extend(mapped.problems)
    spec = TABLES[mapped.table]
    source = mapped.frame
    store = TABLE_OBJECTS[mapped.table]
    columns = [(c.name, c.kind, c.required) for c in spec.columns]
    if SETTLED_COLUMN in source.columns:
        columns.append((SETTLED_COLUMN, "date", False))
    out = pd.DataFrame(index=source.index)
    fmt_of = mapped.mapping.date_format_for
    for name, kind, required in columns:
        label = mapped.labels.get(name, name)
        if name not in source.columns:
            out[name] = _empty(kind, source.index)
            continue
        column = source[name]
        if kind in ("date", "datetime"):
            parsed, bad = _parse_dates(column, kind=kind, fmt=fmt_of(name))
            expected = fmt_of(name) or ("YYYY-MM-DD" if kind == "date" else "ISO 8601")
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
            parsed = parsed.mask(outside)
        elif kind in ("money", "int"):
            parsed, bad = _parse_numbers(column, kind=kind)
            template = (
                "cannot read {value} as an amount (expected e.g. 1234.50; the mapping's "
                "decimal and thousands read other styles)"
                if kind == "money"
                else "cannot read {value} as a whole number"
            )
            if kind == "money":
                outside = _amounts_out_of_bounds(parsed)
                problems.add(
                    mapped.file,
                    source.index[outside],
                    label,
                    _amount_reason(parsed[outside], label),
                )
                parsed = parsed.mask(outside).round(2)
        elif kind == "bool":
            parsed, bad = _parse_bools(column)
            template = "cannot read {value} as true/false (map other spellings in the mapping)"
        else:
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
            template = ""
        mask = bad.to_numpy(dtype=bool)
        problems.add(mapped.file, source.index[mask], label, _with_reason(column[mask], template))
        if required:
            empty = _missing(column).to_numpy(dtype=bool)
            problems.add(mapped.file, source.index[empty], label, f"{name} is required but empty")
        out[name] = parsed
    present = [n for n, *_ in columns if n in source.columns]
    return TypedFrame(mapped.table, mapped.file, out, dict(mapped.labels), present)


def _empty(kind: ColumnKind, index: pd.Index) -> pd.Series:
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


def check_rows(typed: TypedFrame, problems: Problems) -> None:
    """Rules inside one file: dates in order, positive amounts, known kinds."""
    f = typed.frame
    if typed.table == "customers":
        _flag(typed, problems, f["credit_limit"] < 0, "credit_limit", "credit limit is negative")
        _flag(
            typed,
            problems,
            f["payment_terms_days"] < 0,
            "payment_terms_days",
            "payment terms are negative",
        )
        _flag(
            typed,
            problems,
            f["payment_terms_days"] > limits.TERMS_DAYS_MAX,
            "payment_terms_days",
            lambda i, rows: (
                f"payment terms of {rows['payment_terms_days'].iloc[i]} days are longer than "
                f"the longest accepted ({limits.TERMS_DAYS_MAX} days)"
            ),
        )
    elif typed.table == "invoices":
        _flag(
            typed,
            problems,
            f["due_date"] < f["issue_date"],
            "due_date",
            lambda i, rows: (
                f"due date {rows['due_date'].iloc[i]:%Y-%m-%d} is before the issue date "
                f"{rows['issue_date'].iloc[i]:%Y-%m-%d}"
            ),
        )
        _flag(
            typed,
            problems,
            f["amount"] <= 0,
            "amount",
            lambda i, rows: f"invoice amount {rows['amount'].iloc[i]:g} is not positive",
        )
        f["disputed"] = f["disputed"].fillna(False)
    elif typed.table == "payments":
        _flag(
            typed,
            problems,
            f["amount"] <= 0,
            "amount",
            lambda i, rows: f"payment amount {rows['amount'].iloc[i]:g} is not positive",
        )
    elif typed.table in ("adjustments", "actions"):
        if typed.table == "actions":
            _flag(
                typed,
                problems,
                f["promised_amount"] <= 0,
                "promised_amount",
                lambda i, rows: (
                    f"promised amount {rows['promised_amount'].iloc[i]:g} is not positive"
                ),
            )
        kinds = ADJUSTMENT_KINDS if typed.table == "adjustments" else ACTION_KINDS
        kind = f["kind"]
        _flag(
            typed,
            problems,
            kind.notna() & ~is_in(kind, kinds),
            "kind",
            lambda i, rows: f"kind {rows['kind'].iloc[i]!r} is not one of {', '.join(kinds)}",
        )


def _flag(
    typed: TypedFrame,
    problems: Problems,
    mask: pd.Series,
    column: str,
    reason: str | Callable[[int, pd.DataFrame], str],
) -> None:
    """Record a problem on every row where `mask` is true (NA counts as false)."""
    hit = mask.fillna(False).to_numpy(dtype=bool)
    if not hit.any():
        return
    rows = typed.frame[hit]
    text: str | Callable[[int], str] = (
        reason if isinstance(reason, str) else (lambda i: reason(i, rows))
    )
    problems.add(typed.file, typed.frame.index[hit], typed.label(column), text)


def check_duplicates(sources: list[TypedFrame], problems: Problems) -> None:
    """Report every row whose key appears more than once in the files of one table."""
    if not sources:
        return
    key = TABLES[sources[0].table].key
    keys = pd.concat([s.frame[key] for s in sources], ignore_index=True)
    dup = keys.duplicated(keep=False) & keys.notna()
    if not dup.any():
        return
    lines = np.concatenate([s.frame.index.to_numpy() for s in sources])
    owner = np.concatenate([np.full(len(s.frame), i) for i, s in enumerate(sources)])
    hits = np.flatnonzero(dup.to_numpy())
    where = pd.DataFrame({"key": keys.iloc[hits].to_numpy(), "line": lines[hits]})
    others = where.groupby("key")["line"].agg(list)
    for i, source in enumerate(sources):
        mine = hits[owner[hits] == i]
        if not len(mine):
            continue
        mine_keys = keys.iloc[mine].to_numpy()
        mine_lines = lines[mine]

        def reason(j: int, k=mine_keys, ln=mine_lines) -> str:
            also = [str(x) for x in others[k[j]] if x != ln[j]][:5]
            return f"duplicate {key} {k[j]!r} (also on line {', '.join(also) or 'another file'})"

        problems.add(source.file, mine_lines, source.label(key), reason)


def derive_settled_payments(invoices: TypedFrame) -> TypedFrame | None:
    """One full payment per settled invoice, as if read from the invoice file.

    A repeated invoice_id yields one payment, from its first row (the row the reference
    checks take as the invoice): the repeat is reported once, as a duplicate invoice.
    """
    f = invoices.frame
    if SETTLED_COLUMN not in f.columns:
        return None
    first = ~f["invoice_id"].duplicated(keep="first").to_numpy(dtype=bool)
    settled = f[first & (f[SETTLED_COLUMN].notna() & f["invoice_id"].notna()).to_numpy()]
    payments = pd.DataFrame(
        {
            "payment_id": (SETTLED_PAYMENT_PREFIX + settled["invoice_id"]).astype("str"),
            "invoice_id": settled["invoice_id"],
            "customer_id": settled["customer_id"],
            "payment_date": settled[SETTLED_COLUMN],
            "amount": settled["amount"],
        },
        index=settled.index,
    )
    labels = {
        "payment_id": invoices.label("invoice_id"),
        "invoice_id": invoices.label("invoice_id"),
        "customer_id": invoices.label("customer_id"),
        "payment_date": invoices.label(SETTLED_COLUMN),
        "amount": invoices.label("amount"),
    }
    return TypedFrame("payments", invoices.file, payments, labels, list(payments.columns))


def check_references(
    table: str,
    sources: list[TypedFrame],
    *,
    customers: pd.Index,
    invoices: pd.DataFrame,
    problems: Problems,
) -> None:
    """Foreign keys and the rules that need the parent row.

    Args:
        table: the table of `sources`.
        sources: its typed files.
        customers: every known customer id (files being imported and the store).
        invoices: known invoices (files and store), unique index invoice_id, columns
            customer_id and issue_date.
        problems: where to record problems.

    Missing payment customer ids are filled from the invoice, in place.
    """
    for typed in sources:
        f = typed.frame
        if table in ("invoices", "actions"):
            _unknown(typed, problems, "customer_id", customers, "customer")
        if table in ("payments", "adjustments", "actions"):
            _unknown(typed, problems, "invoice_id", invoices.index, "invoice")
        if table in ("payments", "actions"):
            parent = invoices.reindex(f["invoice_id"])
            parent_customer = pd.Series(parent["customer_id"].to_numpy(), index=f.index)
            if table == "payments":
                f["customer_id"] = f["customer_id"].fillna(parent_customer).astype("str")
            _flag(
                typed,
                problems,
                f["customer_id"].notna()
                & parent_customer.notna()
                & (f["customer_id"] != parent_customer),
                "customer_id",
                lambda i, rows, pc=parent_customer: (
                    f"customer_id {rows['customer_id'].iloc[i]!r} does not match the invoice's "
                    f"customer {pc.loc[rows.index[i]]!r}"
                ),
            )
            if table == "payments":
                # A known invoice has a known customer, and a payment's customer must
                # match it: no separate unknown-customer check needed.
                issued = pd.Series(parent["issue_date"].to_numpy(), index=f.index)
                _flag(
                    typed,
                    problems,
                    f["payment_date"] < issued,
                    "payment_date",
                    lambda i, rows, iss=issued: (
                        f"payment date {rows['payment_date'].iloc[i]:%Y-%m-%d} is before the "
                        f"invoice's issue date {iss.loc[rows.index[i]]:%Y-%m-%d}"
                    ),
                )


def _unknown(
    typed: TypedFrame, problems: Problems, column: str, known: pd.Index, what: str
) -> None:
    values = typed.frame[column]
    _flag(
        typed,
        problems,
        values.notna() & ~is_in(values, known),
        column,
        lambda i, rows: (
            f"unknown {what} {rows[column].iloc[i]!r}: not in the {what}s file nor in the store"
        ),
    )
