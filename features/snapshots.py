"""Snapshot rows and the strictly-before as-of joins every feature is computed with.

A snapshot is a (customer or invoice, date S) pair; its features may only see events
dated before S. Each per-customer event stream is reduced to one row per (customer,
day) holding the running value after that day; a snapshot takes the row of the last
day strictly before S (a backward as-of join without exact matches, done with a sorted
key array and `np.searchsorted`). Every date here is a whole day.
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


# Searches run on one int64 key per (customer, day): customer code in the high bits, days
# since 1970 (offset to stay positive) in the low 21. Sorting the keys sorts by customer,
# then day, and one `np.searchsorted` finds every snapshot's last earlier event at once:
# no per-customer loop, and no merge overhead on the small ledgers serving refreshes.
_DAY_BITS = 21
_DAY_OFFSET = 1 << 20  # days from 1970: years 0 to 4840 fit


def _day_keys(cust: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """(customer code, day) pairs as sortable int64 keys; dates must not be NaT."""
    days = np.asarray(dates, dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
    return (np.asarray(cust, dtype=np.int64) << _DAY_BITS) + (days + _DAY_OFFSET)


def _key_days(keys: np.ndarray) -> np.ndarray:
    """The dates of `_day_keys` keys, as datetime64[ns]."""
    days = (keys & ((1 << _DAY_BITS) - 1)) - _DAY_OFFSET
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def _snapshot_keys(keys: pd.DataFrame) -> np.ndarray:
    return _day_keys(keys["cust"].to_numpy(), keys["snapshot_date"].to_numpy())


def _last_before(sorted_keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position of the last key of the same customer strictly before each wanted key (-1: none)."""
    pos = np.searchsorted(sorted_keys, wanted, side="left") - 1
    hit = pos >= 0
    hit[hit] = (sorted_keys[pos[hit]] >> _DAY_BITS) == (wanted[hit] >> _DAY_BITS)
    return np.where(hit, pos, -1)


def _first_from(sorted_keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position of the first key of the same customer at or after each wanted key (-1: none)."""
    pos = np.searchsorted(sorted_keys, wanted, side="left")
    hit = pos < len(sorted_keys)
    hit[hit] = (sorted_keys[pos[hit]] >> _DAY_BITS) == (wanted[hit] >> _DAY_BITS)
    return np.where(hit, pos, -1)


def _take(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """values[pos], missing (NaN / NaT) where pos is -1; numbers come back as float."""
    if values.dtype.kind == "M":
        out = np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[ns]")
    else:
        values = values.astype("float64")
        out = np.full(len(pos), np.nan)
    hit = pos >= 0
    out[hit] = values[pos[hit]]
    return out


def asof_last(keys: pd.DataFrame, stream: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """For each key (cust, snapshot_date), the stream's last row dated before the snapshot.

    Args:
        keys: columns `cust` (int) and `snapshot_date` (whole days), in any order.
        stream: columns `cust`, `date` (whole days) and `columns`, at most one row per
            (cust, date), holding the running value after that day.
        columns: the stream columns to return.

    Returns:
        `columns` aligned with `keys` (same index); NaN / NaT where no earlier row exists.
    """
    dates = stream["date"].to_numpy(dtype="datetime64[ns]")
    rows = np.flatnonzero(~np.isnat(dates))
    stream_keys = _day_keys(stream["cust"].to_numpy()[rows], dates[rows])
    order = np.argsort(stream_keys, kind="stable")
    pos = _last_before(stream_keys[order], _snapshot_keys(keys))
    # Back from positions in the sorted keys to row positions in `stream`.
    source = np.full(len(pos), -1, dtype=np.int64)
    source[pos >= 0] = rows[order][pos[pos >= 0]]
    return pd.DataFrame({c: _take(stream[c].to_numpy(), source) for c in columns}, index=keys.index)


def cumulative_at(
    keys: pd.DataFrame,
    cust: np.ndarray,
    date: np.ndarray,
    values: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Running sums of signed events per customer, as of each key (0 before any event).

    Events with a NaT date never happened and are ignored.
    """
    date = np.asarray(date, dtype="datetime64[ns]")
    happened = ~np.isnat(date)
    event_keys = _day_keys(np.asarray(cust)[happened], date[happened])
    order = np.argsort(event_keys, kind="stable")
    event_keys = event_keys[order]
    frame = pd.DataFrame(
        {name: np.asarray(v, dtype="float64")[happened][order] for name, v in values.items()}
    )
    # Per-customer sums restart at 0 (a global cumsum minus an offset would carry other
    # customers' rounding into this one's totals).
    running = frame.groupby(event_keys >> _DAY_BITS, sort=False).cumsum().to_numpy()
    # The state after a day is its last event's running sum.
    last_of_day = np.ones(len(event_keys), dtype=bool)
    last_of_day[:-1] = event_keys[1:] != event_keys[:-1]
    pos = _last_before(event_keys[last_of_day], _snapshot_keys(keys))
    running = running[last_of_day]
    out = {}
    for k, name in enumerate(values):
        column = np.zeros(len(pos))
        column[pos >= 0] = running[pos[pos >= 0], k]
        out[name] = column
    return pd.DataFrame(out, index=keys.index)


def forward_min_at(
    keys: pd.DataFrame, cust: np.ndarray, until: np.ndarray, value: np.ndarray
) -> np.ndarray:
    """Per key (cust, S): the minimum `value` over the customer's items with `until >= S`.

    Used for the oldest overdue invoice: the earliest due date among invoices still
    open at the start of S (closed on S or later, or never). `until` and `value` are
    whole days without NaT; the result is NaT where no item qualifies.
    """
    until_keys = _day_keys(cust, until)
    order = np.argsort(until_keys, kind="stable")
    until_keys = until_keys[order]
    # Minimum over this item and every later one of the same customer: a reversed running
    # minimum over keys that carry the customer in their high bits never crosses into
    # the next customer (its keys are all smaller).
    value_keys = _day_keys(cust, value)[order]
    suffix_min = np.minimum.accumulate(value_keys[::-1])[::-1]
    pos = _first_from(until_keys, _snapshot_keys(keys))
    out = np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[ns]")
    hit = pos >= 0
    out[hit] = _key_days(suffix_min[pos[hit]])
    return out


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
