"""Rows derived from the invoices file: payments (settled date, paid amount) and customers.

The derived ids are stable ("SETTLED-<invoice_id>", "PAID-<invoice_id>"), so importing the
same export twice changes nothing, and a derived row's problems name the invoice's line.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.conversion import TypedFrame, convert
from features.mapping import fill_defaults
from features.mapping_model import (
    PAID_PAYMENT_PREFIX,
    SETTLED_COLUMN,
    SETTLED_PAYMENT_PREFIX,
    MappedFrame,
    TableMapping,
)
from features.problems import Problems
from features.reshape_invoices import derived_frame

__all__ = ["derive_customers", "derive_payments"]

# Half a cent: amounts are in cents, a paid amount equal to the invoice's is not "more".
_CENT = 0.005


def derive_payments(
    invoices: TypedFrame, mapping: TableMapping, problems: Problems
) -> list[TypedFrame]:
    """One "PAID-" payment per invoice with a paid amount, one "SETTLED-" per other settled one.

    paid = `paid_amount` (else amount - `balance`); dated `last_payment_date`, else the
    settled date. A paid amount that is negative, above the invoice amount or undated is
    a problem. A repeated invoice_id yields one payment, from its first row.
    """
    f = invoices.frame
    first = ~f["invoice_id"].duplicated(keep="first").to_numpy(dtype=bool)
    first &= f["invoice_id"].notna().to_numpy(dtype=bool)
    derived: list[TypedFrame] = []
    paying = np.zeros(len(f), dtype=bool)
    if mapping.paid_amount is not None or mapping.balance is not None:
        paying, payments = _paid(invoices, mapping, problems, first)
        if payments is not None:
            derived.append(payments)
    if SETTLED_COLUMN in f.columns:
        settled = first & ~paying & (f[SETTLED_COLUMN].notna() & f["amount"].notna()).to_numpy()
        rows = f[settled]
        if len(rows):
            columns = _payment(rows, SETTLED_PAYMENT_PREFIX, rows[SETTLED_COLUMN], rows["amount"])
            labels = _labels(invoices, SETTLED_COLUMN, "amount")
            derived.append(derived_frame("payments", invoices, columns, labels))
    return derived


def _paid(
    invoices: TypedFrame, mapping: TableMapping, problems: Problems, first: np.ndarray
) -> tuple[np.ndarray, TypedFrame | None]:
    """Which rows pay something, and their "PAID-" payments."""
    f = invoices.frame
    column = "paid_amount" if mapping.paid_amount is not None else "balance"
    paid = f["amount"] - f["balance"] if "balance" in f.columns else f["amount"] * np.nan
    if "paid_amount" in f.columns:
        paid = f["paid_amount"].fillna(paid)
    paid = paid.round(2)
    date = f["last_payment_date"] if "last_payment_date" in f.columns else None
    if SETTLED_COLUMN in f.columns:
        date = f[SETTLED_COLUMN] if date is None else date.fillna(f[SETTLED_COLUMN])
    if date is None:
        date = pd.Series(pd.NaT, index=f.index, dtype="datetime64[ns]")
    paying = first & (paid.abs() >= _CENT).fillna(False).to_numpy(dtype=bool)
    label = invoices.label(column)
    date_column = "last_payment_date" if mapping.last_payment_date else SETTLED_COLUMN
    rules = [
        (paid < 0, label, "paid amount {paid:g} is negative"),
        (
            paid > f["amount"] + _CENT,
            label,
            "paid amount {paid:g} is more than the amount {amount:g}",
        ),
        (
            date.isna(),
            invoices.label(date_column) if date_column in f.columns else label,
            "paid amount {paid:g} has no payment date; map last_payment_date (or settled_date)",
        ),
    ]
    good = paying.copy()
    for mask, where, template in rules:
        hit = paying & mask.fillna(False).to_numpy(dtype=bool)
        good &= ~hit
        problems.add(
            invoices.file, f.index[hit], where, _reason(template, paid[hit], f["amount"][hit])
        )
    rows = f[good]
    if not len(rows):
        return paying, None
    columns = _payment(rows, PAID_PAYMENT_PREFIX, date[good], paid[good])
    labels = _labels(invoices, date_column, column)
    return paying, derived_frame("payments", invoices, columns, labels)


def _reason(template: str, paid: pd.Series, amount: pd.Series) -> Callable[[int], str]:
    paid, amount = paid.reset_index(drop=True), amount.reset_index(drop=True)
    return lambda i: template.format(paid=paid.iloc[i], amount=amount.iloc[i])


def _payment(
    rows: pd.DataFrame, prefix: str, date: pd.Series, amount: pd.Series
) -> dict[str, pd.Series]:
    return {
        "payment_id": (prefix + rows["invoice_id"]).astype("str"),
        "invoice_id": rows["invoice_id"],
        "customer_id": rows["customer_id"],
        "payment_date": date,
        "amount": amount,
    }


def _labels(invoices: TypedFrame, date: str, amount: str) -> dict[str, str]:
    return {
        "payment_id": invoices.label("invoice_id"),
        "invoice_id": invoices.label("invoice_id"),
        "customer_id": invoices.label("customer_id"),
        "payment_date": invoices.label(date),
        "amount": invoices.label(amount),
    }


def derive_customers(invoices: TypedFrame, mapping: TableMapping, problems: Problems) -> TypedFrame:
    """One customer per distinct invoice customer_id (`[customers] from_invoices = true`).

    name = the invoices' `customer_name` (first non-empty, else the id), created_at and
    currency = those of its earliest invoice, other columns from `[customers.defaults]`;
    converted like a customers file, its line = its first invoice's line.
    """
    f = invoices.frame[invoices.frame["customer_id"].notna()]
    order = f.assign(__line__=f.index.to_numpy()).sort_values("issue_date", kind="stable")
    earliest = order.groupby("customer_id", sort=False).first()
    in_file = f.assign(__line__=f.index.to_numpy()).groupby("customer_id", sort=False).first()
    ids = pd.Series(in_file.index, index=in_file.index, dtype="str")
    name = in_file["customer_name"] if "customer_name" in in_file.columns else None
    created = earliest["issue_date"].reindex(in_file.index)
    date_format = mapping.date_format_for("created_at") or "%Y-%m-%d"
    text = pd.DataFrame(
        {
            "customer_id": ids,
            "name": ids if name is None else name.fillna(ids).astype("str"),
            "created_at": created.dt.strftime(date_format).astype("str"),
            "currency": earliest["currency"].reindex(in_file.index).astype("str"),
        }
    )
    text = text.fillna("")
    text.index = pd.Index(in_file["__line__"].to_numpy(dtype=np.int64))
    fill_defaults(text, mapping)
    labels = {
        "customer_id": invoices.label("customer_id"),
        "name": invoices.label("customer_name" if name is not None else "customer_id"),
        "created_at": invoices.label("issue_date"),
        "currency": invoices.label("currency"),
    }
    mapped = MappedFrame("customers", invoices.file, text, labels, mapping, [])
    return convert(mapped, problems)
