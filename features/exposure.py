"""Customer exposure at a snapshot: what is open and overdue, disputes, last payment.

Open and overdue totals are running sums of signed events merged as of the snapshot:
an invoice adds its amount at its issue date (open) and at its due date (overdue, as it
is overdue from the day after); each reduction subtracts at its date (for overdue, at
the later of its date and the due date). Counts work the same way with the closing
date. An invoice is overdue at the start of S when due < S and it is still open.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.snapshots import FAR_FUTURE, asof_last, cumulative_at, days_between, forward_min_at

__all__ = ["exposure_features"]


def exposure_features(
    invoices: pd.DataFrame, steps: pd.DataFrame, keys: pd.DataFrame
) -> pd.DataFrame:
    """Exposure features and invoice counts for each key (cust, snapshot_date).

    Args:
        invoices: `InvoiceTimeline.invoices` with an int `cust` column.
        steps: `InvoiceTimeline.steps` with an int `cust` column.
        keys: columns cust and snapshot_date, sorted by snapshot_date.

    Returns:
        Frame aligned with `keys`: exposure_* columns (utilisation excluded: it needs the
        credit limit), customer_invoice_count, and helper `first_issue_date`.
    """
    cust = invoices["cust"].to_numpy()
    amount = invoices["amount"].to_numpy(dtype="float64")
    issue = invoices["issue_date"].to_numpy(dtype="datetime64[ns]")
    due = invoices["due_date"].to_numpy(dtype="datetime64[ns]")
    closed = invoices["closed_date"].to_numpy(dtype="datetime64[ns]")
    s_cust = steps["cust"].to_numpy()
    s_date = steps["date"].to_numpy(dtype="datetime64[ns]")
    s_due = steps["due_date"].to_numpy(dtype="datetime64[ns]")
    s_red = steps["reduction"].to_numpy(dtype="float64")
    ones, zeros = np.ones(len(cust)), np.zeros(len(cust))
    s_zeros = np.zeros(len(s_cust))

    opened = cumulative_at(
        keys,
        np.concatenate([cust, s_cust, cust]),
        np.concatenate([issue, s_date, closed]),
        {
            "amount": np.concatenate([amount, -s_red, zeros]),
            "count": np.concatenate([ones, s_zeros, -ones]),
            "issued": np.concatenate([ones, s_zeros, zeros]),
        },
    )
    overdue = cumulative_at(
        keys,
        np.concatenate([cust, s_cust, cust]),
        np.concatenate([due, np.maximum(s_date, s_due), _later(closed, due)]),
        {
            "amount": np.concatenate([amount, -s_red, zeros]),
            "count": np.concatenate([ones, s_zeros, -ones]),
        },
    )
    disputes = cumulative_at(
        keys, cust, invoices["dispute_date"].to_numpy(dtype="datetime64[ns]"), {"n": ones}
    )

    out = pd.DataFrame(index=keys.index)
    # Cents: running float sums must not leave 1e-12 "open" on a paid-up customer.
    out["exposure_open_amount"] = np.round(opened["amount"].to_numpy(), 2)
    out["exposure_open_count"] = opened["count"].to_numpy().astype("int64")
    out["exposure_overdue_amount"] = np.round(overdue["amount"].to_numpy(), 2)
    out["exposure_overdue_count"] = overdue["count"].to_numpy().astype("int64")

    snap = keys["snapshot_date"].to_numpy(dtype="datetime64[ns]")
    never = np.where(np.isnat(closed), FAR_FUTURE.to_datetime64(), closed)
    oldest_due = forward_min_at(keys, cust, never, due)
    oldest = days_between(snap, oldest_due)
    out["exposure_oldest_overdue_days"] = np.where(oldest > 0, oldest, 0).astype("int64")

    issued = opened["issued"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["exposure_dispute_rate"] = np.where(issued > 0, disputes["n"] / issued, np.nan)

    paid_days = steps.loc[steps["paid"].to_numpy(), ["cust", "date"]].drop_duplicates()
    paid_days = paid_days.assign(last_paid=paid_days["date"])
    last_paid = asof_last(keys, paid_days, ["last_paid"])["last_paid"]
    out["exposure_days_since_last_payment"] = days_between(snap, last_paid.to_numpy())
    out["customer_invoice_count"] = issued.astype("int64")
    out["customer_median_invoice_amount"] = _median_amount(invoices, keys)
    return out


def _later(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise later date; NaT stays NaT (an invoice never closed never leaves)."""
    return np.where(np.isnat(a), a, np.maximum(a, b))


def _median_amount(invoices: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """The customer's median invoice amount over invoices issued before the snapshot."""
    stream = pd.DataFrame(
        {
            "cust": invoices["cust"].to_numpy(),
            "date": invoices["issue_date"].to_numpy(dtype="datetime64[ns]"),
            "order": np.arange(len(invoices)),
            "amount": invoices["amount"].to_numpy(dtype="float64"),
        }
    ).sort_values(["cust", "date", "order"], kind="stable")
    stream = stream.reset_index(drop=True)
    stream["median"] = (
        stream["amount"]
        .groupby(stream["cust"], sort=False)
        .expanding()
        .median()
        .droplevel(0)
        .sort_index()
        .to_numpy()
    )
    stream = stream.drop_duplicates(["cust", "date"], keep="last")
    return asof_last(keys, stream, ["median"])["median"].to_numpy()
