"""Fold-honesty helpers: a generated ledger, edits dated on or after a cut-off, fold slices.

An edit is a plain tuple `(kind, pick, days, factor)` so hypothesis can draw, shrink and
print it: `pick` chooses a row of the kind's pool (modulo its size, so any integer is
valid), `days` an offset on or after the cut-off, `factor` a share or multiplier. Every
edit only touches what is dated on or after the cut-off: a payment, adjustment, action,
dispute, invoice or customer record. `apply_edits` returns the edited ledger.

`fold_slice` takes the rows of one fold (training or validation) with what a fit reads
from them: keys, feature values (categoricals as their values, since the table's
category lists may gain a value only used after the cut-off), labels, censoring.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from features.build import build_training_table
from features.ledger import Ledger, ledger_from_frames
from features.spec import CATEGORICAL_COLUMNS, FEATURE_COLUMNS
from features.synthetic import generate_ledger
from training.candidates import Rows, fit_days, fit_risk
from training.folds import Window, censoring_at, known_before, window_at
from training.matrix import feature_matrix
from training.models import TrainConfig

END = dt.date(2025, 12, 31)
AS_OF = dt.date(2026, 1, 1)
# Two defaults of this ledger have their outcome window close on the cut-off day itself
# (due + H = CUTOFF): settling them on the cut-off shows an off-by-one in the fold rule.
CUTOFF = pd.Timestamp("2024-10-09")
HORIZON = 90
TEST_DAYS = 60
VALID_DAYS = 60
SNAPSHOT_EVERY = 30
LABELS = ["default", "very_late", "days_late"]
# A category value sorting before every generated one: a customer created after the
# cut-off with it shifts the codes of every other value in the table's category list.
NEW_INDUSTRY = "aaa-new-industry"
NEW_COUNTRY = "AA"

# One event each, picked from a pool (see `_late_payments`, `_invoice_row`).
SINGLE_EDITS = (
    "delay_payment",
    "drop_payment",
    "add_payment",
    "write_off",
    "credit_note",
    "dispute",
    "action",
    "add_invoice",
    "new_customer",
    "reprice_invoice",
)
# Every event of a kind at once: a leak through any one invoice shows.
BULK_EDITS = ("delay_all_payments", "drop_all_payments", "settle_all", "write_off_all")
EDIT_KINDS = SINGLE_EDITS + BULK_EDITS
# Invoices issued this long before the cut-off are the ones a leaky fold would see with
# an outcome learnt after it: single edits pick among them half of the time.
_BOUNDARY = pd.Timedelta(days=HORIZON + 90)

Edit = tuple[str, int, int, float]


@lru_cache(maxsize=1)
def base_ledger() -> Ledger:
    """40 customers over two years ending on `END`, seeded (built once per process)."""
    return ledger_from_frames(generate_ledger(customers=40, seed=11, years=2.0, end_date=END))


def training_table(ledger: Ledger) -> pd.DataFrame:
    """The training table of `ledger` at `AS_OF`, with monthly snapshots."""
    return build_training_table(
        ledger, as_of=AS_OF, horizon_days=HORIZON, snapshot_every_days=SNAPSHOT_EVERY
    )


@lru_cache(maxsize=1)
def base_table() -> pd.DataFrame:
    """`training_table` of `base_ledger` (callers must not change it)."""
    return training_table(base_ledger())


def late_edits(max_edits: int = 6) -> st.SearchStrategy[list[Edit]]:
    """Lists of edits, each dated on or after the cut-off (see the module docstring)."""
    edit = st.tuples(
        st.sampled_from(EDIT_KINDS),
        st.integers(0, 10_000),
        # Half of the edits fall on the cut-off day itself, the sharpest boundary.
        st.one_of(st.just(0), st.integers(1, 400)),
        st.sampled_from([0.0, 0.3, 0.5, 1.0, 1.7, 40.0]),
    )
    return st.lists(edit, min_size=1, max_size=max_edits)


@dataclass
class _Frames:
    """Mutable copies of the ledger's tables, edited in place by `_apply`."""

    customers: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame
    adjustments: pd.DataFrame
    actions: pd.DataFrame
    added: int = 0

    def new_id(self, prefix: str) -> str:
        self.added += 1
        return f"{prefix}-LATE-{self.added:04d}"


def apply_edits(ledger: Ledger, cutoff: pd.Timestamp, edits: list[Edit]) -> Ledger:
    """The ledger with `edits` applied one after the other; nothing before `cutoff` changes."""
    f = _Frames(
        ledger.customers.copy(),
        ledger.invoices.copy(),
        ledger.payments.copy(),
        ledger.adjustments.copy(),
        ledger.actions.copy(),
    )
    for edit in edits:
        _apply(f, cutoff, edit)
    edited = ledger_from_frames(
        {
            "customers": f.customers,
            "invoices": f.invoices,
            "payments": f.payments,
            "adjustments": f.adjustments,
            "actions": f.actions,
        }
    )
    _check_nothing_early_changed(ledger, edited, cutoff)
    return edited


def _row(frame: pd.DataFrame, pick: int) -> int:
    """Index label of the `pick`-th row (modulo the frame's length)."""
    return int(frame.index[pick % len(frame)])


def _append(frame: pd.DataFrame, row: dict) -> pd.DataFrame:
    extra = pd.DataFrame({c: [row.get(c)] for c in frame.columns}).astype(frame.dtypes.to_dict())
    return pd.concat([frame, extra], ignore_index=True)


def _late_payments(
    payments: pd.DataFrame, invoices: pd.DataFrame, cutoff: pd.Timestamp, pick: int
) -> pd.DataFrame:
    """Payments dated on or after the cut-off; for an even `pick`, only those of invoices
    issued before it (when there are any)."""
    late = payments[payments["payment_date"] >= cutoff]
    if pick % 2 == 0:
        early = invoices.loc[invoices["issue_date"] < cutoff, "invoice_id"]
        of_early = late[late["invoice_id"].isin(early)]
        return of_early if len(of_early) else late
    return late


def drop_payment(ledger: Ledger, cutoff: pd.Timestamp, payment_id: str) -> Edit:
    """The edit that drops payment `payment_id` (dated on or after the cut-off, of an
    invoice issued before it)."""
    pool = _late_payments(ledger.payments, ledger.invoices, cutoff, 0)
    position = np.flatnonzero((pool["payment_id"] == payment_id).to_numpy())
    assert len(position) == 1, f"{payment_id} is not a payment of an early invoice after {cutoff}"
    return ("drop_payment", 2 * int(position[0]), 0, 0.0)


def _invoice_row(f: _Frames, cutoff: pd.Timestamp, pick: int) -> int:
    """An invoice row: for an even `pick` one issued shortly before the cut-off."""
    inv = f.invoices
    if pick % 2 == 0:
        near = inv[(inv["issue_date"] < cutoff) & (inv["issue_date"] >= cutoff - _BOUNDARY)]
        if len(near):
            return _row(near, pick // 2)
    return _row(inv, pick // 2)


def _apply(f: _Frames, cutoff: pd.Timestamp, edit: Edit) -> None:
    """One edit, dated on or after `cutoff`."""
    kind, pick, days, factor = edit
    span = (pd.Timestamp(AS_OF) - cutoff).days
    when = cutoff + pd.Timedelta(days=days % span)
    if kind in BULK_EDITS:
        _apply_bulk(f, cutoff, when, kind, days)
    elif kind in ("delay_payment", "drop_payment"):
        late = _late_payments(f.payments, f.invoices, cutoff, pick)
        if len(late):
            k = _row(late, pick // 2)
            if kind == "drop_payment":
                f.payments = f.payments.drop(index=k).reset_index(drop=True)
            else:
                f.payments.loc[k, "payment_date"] += pd.Timedelta(days=1 + days)
    elif kind == "reprice_invoice":
        issued_late = f.invoices[f.invoices["issue_date"] >= cutoff]
        if len(issued_late):
            k = _row(issued_late, pick)
            amount = round(float(f.invoices.loc[k, "amount"]) * max(factor, 0.01), 2)
            f.invoices.loc[k, "amount"] = amount
    elif kind == "dispute":
        k = _invoice_row(f, cutoff, pick)
        if not f.invoices.loc[k, "disputed"]:
            f.invoices.loc[k, "disputed"] = True
            f.invoices.loc[k, "dispute_date"] = max(when, f.invoices.loc[k, "issue_date"])
    elif kind in ("add_payment", "write_off", "credit_note"):
        _reduce(f, when, kind, [_invoice_row(f, cutoff, pick)], factor)
    elif kind == "action":
        k = _invoice_row(f, cutoff, pick)
        f.actions = _append(
            f.actions,
            {
                "action_id": f.new_id("ACT"),
                "customer_id": f.invoices.loc[k, "customer_id"],
                "invoice_id": f.invoices.loc[k, "invoice_id"],
                "at": when + pd.Timedelta(hours=10),
                "kind": "call",
                "author": "test",
                "text": "Called after the cut-off",
            },
        )
    elif kind in ("add_invoice", "new_customer"):
        _add_invoice(f, when, kind == "new_customer", pick, days, factor)
    else:
        raise AssertionError(f"unknown edit kind {kind!r}")


def _apply_bulk(f: _Frames, cutoff: pd.Timestamp, when: pd.Timestamp, kind: str, days: int) -> None:
    """Every payment dated on or after the cut-off moved or dropped, or every invoice
    issued before it paid in full or written off on `when`."""
    late = f.payments["payment_date"] >= cutoff
    if kind == "delay_all_payments":
        f.payments.loc[late, "payment_date"] += pd.Timedelta(days=1 + days)
    elif kind == "drop_all_payments":
        f.payments = f.payments[~late].reset_index(drop=True)
    else:
        early = f.invoices.index[f.invoices["issue_date"] < cutoff]
        _reduce(f, when, "add_payment" if kind == "settle_all" else "write_off", early, 1.0)


def _typed_like(extra: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """`extra` in `table`'s dtypes; the columns it lacks (original amounts) stay empty."""
    return extra.astype({c: t for c, t in table.dtypes.items() if c in extra.columns})


def _reduce(
    f: _Frames, when: pd.Timestamp, kind: str, rows: Sequence[int] | pd.Index, factor: float
) -> None:
    """A payment, write-off or credit note on `when` of `factor` times each invoice's
    amount (`rows`: index labels of the invoices)."""
    inv = f.invoices.loc[list(rows)]
    amounts = np.round(inv["amount"].to_numpy(dtype="float64") * max(factor, 0.01), 2)
    ids = [f.new_id("PAY" if kind == "add_payment" else "ADJ") for _ in range(len(inv))]
    if kind == "add_payment":
        extra = pd.DataFrame(
            {
                "payment_id": ids,
                "invoice_id": inv["invoice_id"].to_numpy(),
                "customer_id": inv["customer_id"].to_numpy(),
                "payment_date": when,
                "amount": amounts,
            }
        )
        f.payments = pd.concat([f.payments, _typed_like(extra, f.payments)], ignore_index=True)
    else:
        extra = pd.DataFrame(
            {
                "adjustment_id": ids,
                "invoice_id": inv["invoice_id"].to_numpy(),
                "date": when,
                "amount": amounts,
                "kind": kind,
            }
        )
        f.adjustments = pd.concat(
            [f.adjustments, _typed_like(extra, f.adjustments)], ignore_index=True
        )


def _add_invoice(
    f: _Frames, when: pd.Timestamp, new_customer: bool, pick: int, days: int, factor: float
) -> None:
    """An invoice issued on `when` (of a customer created that day when `new_customer`),
    paid `days` later unless `factor` is 0."""
    if new_customer:
        customer = f.new_id("C")
        f.customers = _append(
            f.customers,
            {
                "customer_id": customer,
                "name": "Late Arrival Ltd",
                "country": NEW_COUNTRY,
                "industry": NEW_INDUSTRY,
                "created_at": when,
                "credit_limit": 5000.0,
                "payment_terms_days": 30,
                "currency": "EUR",
            },
        )
    else:
        customer = str(f.customers.loc[_row(f.customers, pick), "customer_id"])
    invoice = f.new_id("INV")
    amount = round(100.0 + 37.0 * (pick % 50), 2)
    f.invoices = _append(
        f.invoices,
        {
            "invoice_id": invoice,
            "customer_id": customer,
            "issue_date": when,
            "due_date": when + pd.Timedelta(days=(0, 30, 60)[pick % 3]),
            "amount": amount,
            "currency": "EUR",
            "disputed": False,
            "dispute_date": pd.NaT,
        },
    )
    if factor > 0:
        f.payments = _append(
            f.payments,
            {
                "payment_id": f.new_id("PAY"),
                "invoice_id": invoice,
                "customer_id": customer,
                "payment_date": when + pd.Timedelta(days=days % 120),
                "amount": round(amount * min(factor, 1.0), 2),
            },
        )


def _check_nothing_early_changed(before: Ledger, after: Ledger, cutoff: pd.Timestamp) -> None:
    """The edits' own contract: the ledger as known at the cut-off is the same."""
    a, b = before.before(cutoff.date()), after.before(cutoff.date())
    for name in ("customers", "invoices", "payments", "adjustments", "actions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)


def window(table: pd.DataFrame, cutoff: pd.Timestamp) -> Window:
    """The rolling-origin window of `table` whose test period starts at `cutoff`."""
    complete = known_before(table, pd.Timestamp(AS_OF), horizon_days=HORIZON)
    return window_at(
        table,
        0,
        cutoff,
        TEST_DAYS,
        VALID_DAYS,
        complete=complete,
        horizon_days=HORIZON,
    )


def fold_slice(table: pd.DataFrame, mask: np.ndarray, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Keys, feature values, labels and censoring at `cutoff` of the rows in `mask`."""
    stop, settled = censoring_at(table, cutoff, horizon_days=HORIZON)
    out = table.loc[mask, ["invoice_id", "snapshot_date", *FEATURE_COLUMNS, *LABELS]].copy()
    for column in CATEGORICAL_COLUMNS:
        out[column] = out[column].astype("object")
    out["stop"] = stop[mask]
    out["settled"] = settled[mask]
    return out.reset_index(drop=True)


def _categories(table: pd.DataFrame) -> dict[str, list[str]]:
    # As the backtest encodes: the category lists of the whole table.
    return {c: [str(v) for v in table[c].cat.categories] for c in CATEGORICAL_COLUMNS}


def fit_predictions(table: pd.DataFrame, w: Window, fixed: pd.DataFrame) -> dict[str, np.ndarray]:
    """Fit the LightGBM risk and days-late models on the window; predict the `fixed` rows."""
    categories = _categories(table)
    X = feature_matrix(table, FEATURE_COLUMNS, categories)
    y = table["default"].to_numpy()
    d = table["days_late"].to_numpy(dtype="float64")
    rows = Rows(
        X_tr=X[w.train],
        y_tr=y[w.train],
        d_tr=d[w.train],
        X_va=X[w.valid],
        y_va=y[w.valid],
        d_va=d[w.valid],
        names=list(FEATURE_COLUMNS),
    )
    config = TrainConfig(seed=0, threads=1, max_rounds=50, early_stopping=10)
    risk = fit_risk("lightgbm", rows, config=config, isotonic_min_defaults=20)
    days = fit_days("lightgbm", rows, config=config)
    X_fixed = feature_matrix(fixed, FEATURE_COLUMNS, categories)
    return {"risk_raw": risk.raw(X_fixed), "risk": risk.predict(X_fixed), **days.predict(X_fixed)}
