"""Invoice rows as a mapping reshapes them: voids, line items, credit notes, due dates.

Each step is a vectorised pass over the converted invoices file (`features.conversion`),
in this order: rows marked void, line items collapsed into invoices (`lines = true`),
negative invoices turned into credit notes (`negative = "credit_note"`), empty due dates
computed from payment terms. Problems name the invoice's first line in its file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.conversion import TypedFrame, empty_column, is_in
from features.mapping_model import CREDIT_NOTE_PREFIX, TableMapping
from features.problems import Problems
from kernel import limits
from kernel.schema import TABLES

__all__ = [
    "aggregate_lines",
    "derived_frame",
    "fill_due_dates",
    "mark_void",
    "split_credit_notes",
]

_LINE = "__line__"


def derived_frame(
    table: str, source: TypedFrame, columns: dict[str, pd.Series], labels: dict[str, str]
) -> TypedFrame:
    """Rows of `table` made from another file's rows: every canonical column, typed.

    Columns not given are empty; the index (the source rows' lines) is the given columns'.
    """
    index = next(iter(columns.values())).index
    frame = pd.DataFrame(index=index)
    for column in TABLES[table].columns:
        given = columns.get(column.name)
        frame[column.name] = given if given is not None else empty_column(column.kind, index)
    return TypedFrame(table, source.file, frame, labels, list(columns))


def mark_void(invoices: TypedFrame, mapping: TableMapping) -> None:
    """Set `voided` from the `void` column: true where its value is one of the void values."""
    f = invoices.frame
    if mapping.void_column is None or "void" not in f.columns:  # a missing column is reported
        return
    f["voided"] = pd.Series(is_in(f["void"], mapping.void_values), index=f.index, dtype="bool")
    invoices.labels["voided"] = mapping.void_column
    if "voided" not in invoices.present:
        invoices.present.append("voided")


def aggregate_lines(invoices: TypedFrame, *, repeated: bool = False) -> TypedFrame:
    """One row per invoice_id: the amount summed (the first line's when every line
    `repeated` the invoice's total), `voided` if any line is, else first non-empty.

    The paid amount and balance are the invoice's, written on every line: the first line's.

    The invoice's line is its first row's line; rows without an invoice_id (already
    reported as empty) are left out, and an invoice with a line whose amount is missing
    (reported too) gets no amount, so nothing is checked against a partial total.
    """
    f = invoices.frame
    # Only the amount is a per-line figure; exports repeat paid amounts and balances.
    money = ["amount"] if "amount" in f.columns and not repeated else []
    work = f.assign(**{_LINE: f.index.to_numpy()})
    groups = work.groupby("invoice_id", sort=False, dropna=True)
    rest = [c for c in work.columns if c not in money and c not in ("invoice_id", "voided")]
    first = groups[rest].first()
    out = pd.DataFrame(index=first.index)
    for column in f.columns:
        if column in money:
            out[column] = groups[column].sum(min_count=1).round(2)
            if column == "amount":  # a line unreadable (reported): no total to check
                whole = groups[column].count() == groups.size()
                out[column] = out[column].where(whole)
        elif column == "voided":
            out[column] = groups[column].any().astype(f[column].dtype)
        elif column != "invoice_id":
            out[column] = first[column].astype(f[column].dtype)
    out = out.reset_index()[list(f.columns)]
    out.index = pd.Index(first[_LINE].to_numpy(dtype=np.int64))
    return TypedFrame("invoices", invoices.file, out, invoices.labels, invoices.present)


def split_credit_notes(
    invoices: TypedFrame, mapping: TableMapping, problems: Problems
) -> tuple[TypedFrame, TypedFrame | None]:
    """Take negative invoices out as credit notes "CN-<invoice_id>" on the invoice they credit.

    Returns the invoices left and the credit notes (None when there are none). A negative
    invoice that does not name the invoice it credits (`credit_for`) is a problem.
    """
    f = invoices.frame
    negative = (f["amount"] < 0).fillna(False).to_numpy(dtype=bool)
    if not negative.any():
        return invoices, None
    notes = f[negative]
    credited = notes["credit_for"] if "credit_for" in notes.columns else None
    unnamed = notes["credit_for"].isna() if credited is not None else notes["amount"].notna()
    unnamed_ids = notes["invoice_id"][unnamed].reset_index(drop=True)
    problems.add(
        invoices.file,
        notes.index[unnamed.to_numpy(dtype=bool)],
        invoices.label("credit_for" if credited is not None else "amount"),
        lambda i: (
            f"credit note {unnamed_ids.iloc[i]!r} does not name the invoice it credits; "
            "map credit_for to the column holding it"
        ),
    )
    named = notes[~unnamed.to_numpy(dtype=bool)]
    kept = TypedFrame("invoices", invoices.file, f[~negative], invoices.labels, invoices.present)
    if not len(named):
        return kept, None
    columns = {
        "adjustment_id": (CREDIT_NOTE_PREFIX + named["invoice_id"]).astype("str"),
        "invoice_id": named["credit_for"].astype("str"),
        "date": named["issue_date"],
        "amount": -named["amount"],
        "kind": pd.Series("credit_note", index=named.index, dtype="str"),
    }
    labels = {
        "adjustment_id": invoices.label("invoice_id"),
        "invoice_id": invoices.label("credit_for"),
        "date": invoices.label("issue_date"),
        "amount": invoices.label("amount"),
        "kind": invoices.label("amount"),
    }
    return kept, derived_frame("adjustments", invoices, columns, labels)


def fill_due_dates(
    invoices: TypedFrame, mapping: TableMapping, customer_terms: pd.Series, problems: Problems
) -> None:
    """Empty due dates = issue date + the terms' days, in place; unknown terms are problems.

    Days come from `terms_codes` (the terms value), else the largest number in the value
    ("2/10 Net 30" -> 30), else `terms_days`, else the customer's payment_terms_days
    (`customer_terms`, indexed by customer_id) when this import names it.
    """
    if not mapping.fills_due_date:
        return
    f = invoices.frame
    empty = f["due_date"].isna() & f["issue_date"].notna()
    if not empty.any():
        return
    index = f.index
    text = f["terms"] if "terms" in f.columns else pd.Series(pd.NA, index=index, dtype="str")
    # Few distinct terms texts: read each once, then spread to the rows.
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    per_text = _terms_days(pd.Series(uniques, dtype="str"), mapping.terms_codes)
    days = pd.Series(np.append(per_text, np.nan)[codes], index=index)
    if mapping.terms_days is not None:
        days = days.fillna(float(mapping.terms_days))
    known = customer_terms.astype("float64").reindex(f["customer_id"]).to_numpy()
    days = days.fillna(pd.Series(known, index=index))
    due = f["issue_date"] + pd.to_timedelta(days, unit="D")
    f["due_date"] = f["due_date"].where(~empty, due.dt.normalize())
    if "due_date" not in invoices.present:
        invoices.present.append("due_date")
    unknown = (empty & days.isna()).to_numpy(dtype=bool)
    shown = text[unknown].reset_index(drop=True)
    problems.add(
        invoices.file,
        index[unknown],
        invoices.label("due_date"),
        lambda i: (
            f"due date missing and terms {shown.iloc[i]!r} unknown; add it to "
            "[invoices.terms_codes]"
            if pd.notna(shown.iloc[i])
            else "due date missing and no payment terms to compute it from; map terms or "
            "set terms_days"
        ),
    )


def _terms_days(terms: pd.Series, codes: dict[str, int]) -> np.ndarray:
    """Days of each terms text: its code, else the largest number in it (None: NaN)."""
    days = terms.map(codes).astype("float64")
    numbers = terms.str.extractall(r"(\d{1,4})")[0].astype("float64").groupby(level=0).max()
    numbers = numbers[numbers <= limits.TERMS_DAYS_MAX]
    return days.fillna(numbers.reindex(terms.index)).to_numpy(dtype="float64")
