"""Snapshot rows and the strictly-before as-of joins every feature is computed with.

A snapshot is a (customer or invoice, date S) pair; its features may only see events
dated before S. Each per-customer event stream is reduced to one row per (customer,
day) holding the running value after that day, then joined with
`pd.merge_asof(..., allow_exact_matches=False)`: the last day strictly before S.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "FAR_FUTURE",
    "asof_last",
    "cumulative_at",
    "days_between",
    "forward_min_at",
    "snapshot_dates",
]

# Stands in for "never" (an invoice never closed) where a date is needed for sorting.
FAR_FUTURE = pd.Timestamp("2200-01-01")


def days_between(later: np.ndarray | pd.Series, earlier: np.ndarray | pd.Series) -> np.ndarray:
    """Whole days from `earlier` to `later` as float (NaN where either is NaT)."""
    delta = np.asarray(later, dtype="datetime64[ns]") - np.asarray(earlier, dtype="datetime64[ns]")
    days = delta.astype("timedelta64[D]").astype("float64")
    days[np.isnat(delta)] = np.nan
    return days


def asof_last(keys: pd.DataFrame, stream: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """For each key (cust, snapshot_date), the stream's last row dated before the snapshot.

    Args:
        keys: columns `cust` (int) and `snapshot_date`, sorted by snapshot_date.
        stream: columns `cust`, `date` and `columns`, at most one row per (cust, date),
            holding the running value after that day.
        columns: the stream columns to return.

    Returns:
        `columns` aligned with `keys` (same index); NaN where no earlier row exists.
    """
    right = stream[["cust", "date", *columns]].sort_values("date", kind="stable")
    joined = pd.merge_asof(
        keys[["cust", "snapshot_date"]].reset_index(drop=True),
        right,
        left_on="snapshot_date",
        right_on="date",
        by="cust",
        allow_exact_matches=False,
        direction="backward",
    )
    out = joined[columns]
    out.index = keys.index
    return out


def cumulative_at(
    keys: pd.DataFrame,
    cust: np.ndarray,
    date: np.ndarray,
    values: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Running sums of signed events per customer, as of each key (0 before any event).

    Events with a NaT date never happened and are ignored.
    """
    events = pd.DataFrame({"cust": cust, "date": date, **values})
    events = events[events["date"].notna()]
    daily = events.groupby(["cust", "date"], sort=True).sum()
    running = daily.groupby(level="cust", sort=False).cumsum().reset_index()
    names = list(values)
    return asof_last(keys, running, names).fillna(0.0)


def forward_min_at(
    keys: pd.DataFrame, cust: np.ndarray, until: np.ndarray, value: np.ndarray
) -> np.ndarray:
    """Per key (cust, S): the minimum `value` over the customer's items with `until >= S`.

    Used for the oldest overdue invoice: the earliest due date among invoices still
    open at the start of S (closed on S or later, or never).
    """
    items = pd.DataFrame({"cust": cust, "until": until, "value": value})
    mins = items.groupby(["cust", "until"], sort=True)["value"].min().reset_index()
    # Minimum over this closing date and every later one: a reversed running minimum.
    reversed_ = mins.iloc[::-1]
    mins["suffix_min"] = reversed_.groupby("cust", sort=False)["value"].cummin().iloc[::-1]
    right = mins.sort_values("until", kind="stable")
    joined = pd.merge_asof(
        keys[["cust", "snapshot_date"]].reset_index(drop=True),
        right[["cust", "until", "suffix_min"]],
        left_on="snapshot_date",
        right_on="until",
        by="cust",
        allow_exact_matches=True,
        direction="forward",
    )
    return joined["suffix_min"].to_numpy(dtype="datetime64[ns]")


def snapshot_dates(
    issue_date: pd.Series,
    limit: pd.Series,
    every_days: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Snapshot dates of invoices: the issue date, then every N days before `limit`.

    Args:
        issue_date: issue date per invoice.
        limit: first day no snapshot may fall on (exclusive bound), per invoice.
        every_days: N, or None for issue-date snapshots only.

    Returns:
        (row position of the invoice, snapshot date) per snapshot, invoice-major order.
    """
    n = len(issue_date)
    issue = issue_date.to_numpy(dtype="datetime64[ns]")
    if not every_days:
        return np.arange(n), issue
    if every_days < 1:
        raise ValueError(f"snapshot_every_days must be at least 1, got {every_days}")
    span = days_between(limit.to_numpy(), issue)
    # k >= 1 with issue + k*N < limit  <=>  k <= (span - 1) // N
    extra = np.where(np.isnan(span), 0, np.maximum((np.nan_to_num(span) - 1) // every_days, 0))
    counts = 1 + extra.astype(np.int64)
    pos = np.repeat(np.arange(n), counts)
    starts = np.cumsum(counts) - counts
    k = np.arange(len(pos)) - np.repeat(starts, counts)
    dates = issue[pos] + (k * every_days).astype("timedelta64[D]")
    return pos, dates.astype("datetime64[ns]")
