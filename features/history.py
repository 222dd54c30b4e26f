"""Customer payment history at a snapshot: how the customer paid invoices settled before it.

Only invoices settled strictly before the snapshot count; days late are capped at
`HISTORY_CAP_DAYS`. Defaults known before the snapshot (written off, or unpaid
`DEFAULT_AFTER_DAYS` days after due) give the default count and share. Unknown history
stays NaN; counts are 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.snapshots import asof_last, cumulative_at, days_between
from features.spec import DEFAULT_AFTER_DAYS, EWM_ALPHA, HISTORY_CAP_DAYS, TREND_RECENT

__all__ = ["history_features"]

_SETTLED_COLUMNS = [
    "history_days_late_mean",
    "history_days_late_median",
    "history_days_late_max",
    "history_days_late_recent",
    "history_share_late",
    "history_share_late_over_30",
    "history_last_days_late",
    "history_days_late_trend",
]


def history_features(invoices: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """History features for each key (cust, snapshot_date).

    Args:
        invoices: `InvoiceTimeline.invoices` with an int `cust` column.
        keys: columns cust and snapshot_date, sorted by snapshot_date.

    Returns:
        Frame aligned with `keys`: history_* columns.
    """
    out = pd.DataFrame(index=keys.index)
    settled_stream = _settled_stream(invoices)
    counts = cumulative_at(
        keys,
        settled_stream["cust"].to_numpy(),
        settled_stream["date"].to_numpy(),
        {"settled": np.ones(len(settled_stream))},
    )
    out["history_settled_count"] = counts["settled"].to_numpy().astype("int64")
    out = out.join(asof_last(keys, settled_stream, _SETTLED_COLUMNS))

    due = invoices["due_date"].to_numpy(dtype="datetime64[ns]")
    settled = invoices["settled_date"].to_numpy(dtype="datetime64[ns]")
    write_off = invoices["write_off_date"].to_numpy(dtype="datetime64[ns]")
    deadline = due + np.timedelta64(DEFAULT_AFTER_DAYS, "D")
    # Settled by the end of the deadline day -> concluded when settled; otherwise the
    # default is known once the deadline day has passed (an event dated `deadline`).
    in_time = ~np.isnat(settled) & (settled <= deadline)
    unpaid_default = np.where(in_time, np.datetime64("NaT"), deadline)
    default_date = _nat_min(unpaid_default, write_off)
    concluded = _nat_min(np.where(in_time, settled, deadline), write_off)
    cust = invoices["cust"].to_numpy()
    outcome = cumulative_at(
        keys,
        np.concatenate([cust, cust]),
        np.concatenate([concluded, default_date]),
        {
            "concluded": np.concatenate([np.ones(len(cust)), np.zeros(len(cust))]),
            "defaults": np.concatenate([np.zeros(len(cust)), np.ones(len(cust))]),
        },
    )
    out["history_default_count"] = outcome["defaults"].to_numpy().astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["history_default_share"] = np.where(
            outcome["concluded"] > 0, outcome["defaults"] / outcome["concluded"], np.nan
        )

    first_paid = invoices["first_paid_date"].to_numpy(dtype="datetime64[ns]")
    partial = invoices["first_paid_partial"].to_numpy(dtype=bool)
    paid = cumulative_at(
        keys,
        cust,
        first_paid,
        {"paid": np.ones(len(cust)), "partial": partial.astype("float64")},
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out["history_partial_payment_share"] = np.where(
            paid["paid"] > 0, paid["partial"] / paid["paid"], np.nan
        )
    return out


def _nat_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise earliest date, ignoring NaT (NaT only where both are)."""
    a = np.asarray(a, dtype="datetime64[ns]")
    b = np.asarray(b, dtype="datetime64[ns]")
    return np.where(np.isnat(a), b, np.where(np.isnat(b), a, np.minimum(a, b)))


def _settled_stream(invoices: pd.DataFrame) -> pd.DataFrame:
    """Running statistics of days late, one row per (customer, settlement day)."""
    done = invoices[invoices["settled_date"].notna()]
    stream = pd.DataFrame(
        {
            "cust": done["cust"].to_numpy(),
            "date": done["settled_date"].to_numpy(dtype="datetime64[ns]"),
            "due": done["due_date"].to_numpy(dtype="datetime64[ns]"),
            "order": np.arange(len(done)),
            "late": np.minimum(
                days_between(done["settled_date"], done["due_date"]), HISTORY_CAP_DAYS
            ),
        }
    )
    # Settlement order within a customer; ties broken by due date, then ledger order.
    stream = stream.sort_values(["cust", "date", "due", "order"], kind="stable").reset_index(
        drop=True
    )
    late = stream["late"]
    group = late.groupby(stream["cust"], sort=False)
    count = group.cumcount().to_numpy() + 1
    total = group.cumsum().to_numpy()
    stream["history_days_late_mean"] = total / count
    stream["history_days_late_median"] = (
        group.expanding().median().droplevel(0).sort_index().to_numpy()
    )
    stream["history_days_late_max"] = group.cummax().to_numpy()
    stream["history_days_late_recent"] = (
        group.ewm(alpha=EWM_ALPHA).mean().droplevel(0).sort_index().to_numpy()
    )
    stream["history_share_late"] = (late > 0).groupby(stream["cust"]).cumsum().to_numpy() / count
    stream["history_share_late_over_30"] = (late > 30).groupby(
        stream["cust"]
    ).cumsum().to_numpy() / count
    stream["history_last_days_late"] = late.to_numpy()
    older_total = pd.Series(total).groupby(stream["cust"]).shift(TREND_RECENT).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        recent_mean = (total - older_total) / TREND_RECENT
        older_mean = older_total / (count - TREND_RECENT)
    stream["history_days_late_trend"] = np.where(
        count > TREND_RECENT, recent_mean - older_mean, np.nan
    )
    # Several settlements on one day: the state after the day is the last row.
    return stream.drop_duplicates(["cust", "date"], keep="last")
