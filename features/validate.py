"""Validate typed rows, vectorised: the rules inside a file, duplicate keys, references.

Each check is one vectorised pandas expression over a whole file; `BadRow` objects
are built only for the rows that fail (and only up to the error cap, while the total
is still counted). Nothing here touches the database: the importer passes in what
the store already holds (known customers, known invoices) for the reference checks.

Parsing into canonical types is in `features.conversion` and the problem list in
`features.problems`; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
import pandas as pd

from features.conversion import TypedFrame, convert, is_in, normalise
from features.problems import Problems
from kernel import limits
from kernel.schema import ACTION_KINDS, ADJUSTMENT_KINDS, TABLES

__all__ = [
    "Problems",
    "TypedFrame",
    "check_duplicates",
    "check_references",
    "check_rows",
    "convert",
    "is_in",
    "normalise",
]


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
        not_positive = f["amount"] <= 0
        if "voided" in f.columns:  # a voided invoice may be zeroed (QuickBooks does)
            not_positive &= ~f["voided"].astype("boolean").fillna(False)
        _flag(
            typed,
            problems,
            not_positive,
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


def check_references(
    table: str,
    sources: list[TypedFrame],
    *,
    customers: pd.Index,
    invoices: pd.DataFrame,
    problems: Problems,
    rejected: Mapping[str, pd.Index] | None = None,
) -> None:
    """Foreign keys and the rules that need the parent row.

    Args:
        table: the table of `sources`.
        sources: its typed files.
        customers: every known customer id (files being imported and the store).
        invoices: known invoices (files and store), unique index invoice_id, columns
            customer_id and issue_date.
        problems: where to record problems.
        rejected: ids left out with a reject file, per parent table ("customers",
            "invoices"): a row naming one is told its parent was rejected.

    Missing payment customer ids are filled from the invoice, in place. A payment (or
    credit note) dated before its invoice's issue date is a prepayment, not a problem
    (`features.timeline` counts it on the issue date).
    """
    for typed in sources:
        f = typed.frame
        gone = rejected or {}
        if table in ("invoices", "actions"):
            _unknown(typed, problems, "customer_id", customers, "customer", gone.get("customers"))
        if table in ("payments", "adjustments", "actions"):
            _unknown(typed, problems, "invoice_id", invoices.index, "invoice", gone.get("invoices"))
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
                partial(_customer_mismatch, parent_customer),
            )


def _customer_mismatch(invoice_customer: pd.Series, i: int, rows: pd.DataFrame) -> str:
    return (
        f"customer_id {rows['customer_id'].iloc[i]!r} does not match the invoice's "
        f"customer {invoice_customer.loc[rows.index[i]]!r}"
    )


def _unknown(
    typed: TypedFrame,
    problems: Problems,
    column: str,
    known: pd.Index,
    what: str,
    rejected: pd.Index | None = None,
) -> None:
    values = typed.frame[column]
    gone = set() if rejected is None else set(rejected)

    def reason(i: int, rows: pd.DataFrame) -> str:
        value = rows[column].iloc[i]
        if value in gone:
            return f"{what} {value!r} is rejected (see its own line): this row goes with it"
        return f"unknown {what} {value!r}: not in the {what}s file nor in the store"

    _flag(typed, problems, values.notna() & ~is_in(values, known), column, reason)
