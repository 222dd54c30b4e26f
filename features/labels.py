"""Labels of invoices as known at an as-of date (DESIGN.md, Labels).

- settled: first day payments plus credit notes cover the amount.
- days_late = settled date - due date (negative = early), capped at the horizon H.
- default = not settled within H days after due, or written off.
- very_late = a default, or settled more than V days after due (V < H; settled at
  exactly V days is not very late). The risk target of ledgers with too few defaults
  to learn from (Dynamics 365 Finance predicts on time / late / very late the same
  way); a function of days_late and default alone, so it can be recomputed from the
  training table's columns at any cut-off (`very_late_at`).
- mature: the outcome is known at the start of the as-of day D, i.e. with events
  dated before D: due_date + H < D, or settled before D, or written off before D.
  Only mature invoices train.
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd

from features.ledger import Ledger
from features.timeline import invoice_timeline

__all__ = ["DEFAULT_VERY_LATE_DAYS", "label_invoices", "settlement_dates", "very_late_at"]

# V of "very late" when the caller names none (settings.very_late_days has the same default).
DEFAULT_VERY_LATE_DAYS = 30


def settlement_dates(ledger: Ledger) -> pd.Series:
    """First day payments plus credit notes cover each invoice's amount.

    Returns:
        Series indexed by invoice_id, `datetime64[ns]`, NaT for invoices never settled.
    """
    timeline = invoice_timeline(ledger).invoices
    return pd.Series(
        timeline["settled_date"].to_numpy(),
        index=pd.Index(timeline["invoice_id"], name="invoice_id"),
        name="settled_date",
    )


def very_late_at(
    days_late: pd.Series | np.ndarray, default: pd.Series | np.ndarray, very_late_days: int
) -> np.ndarray:
    """1 where an invoice defaulted or settled more than `very_late_days` after due, else 0.

    Unknown outcomes (days_late NaN, default 0) give 0, as `default` does.
    """
    if very_late_days < 1:
        raise ValueError(f"very_late_days must be at least 1, got {very_late_days}")
    late = np.asarray(days_late, dtype="float64")
    # NaN > V is False: an outcome not yet known is not very late.
    with np.errstate(invalid="ignore"):
        very_late = (np.asarray(default) == 1) | (late > very_late_days)
    return very_late.astype("int64")


def label_invoices(
    ledger: Ledger,
    *,
    as_of: datetime.date,
    horizon_days: int = 90,
    very_late_days: int = DEFAULT_VERY_LATE_DAYS,
) -> pd.DataFrame:
    """Labels of every invoice issued before `as_of`, from events dated before it.

    Args:
        ledger: the ledger (any later events are ignored).
        as_of: the labels are what was known at the start of this day.
        horizon_days: H, days after the due date after which an unsettled invoice
            is a default.
        very_late_days: V, days after the due date after which a settlement is very
            late (from V >= H on, very_late equals default).

    Returns:
        Frame indexed by invoice_id with settled_date (NaT if not settled before
        `as_of`), days_late (float, capped at H; NaN when not mature), default (0/1;
        0 when not mature, where it is unknown), very_late (0/1, likewise) and
        mature (bool).
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    timeline = invoice_timeline(ledger.before(as_of)).invoices
    return labels_from_timeline(
        timeline, as_of=as_of, horizon_days=horizon_days, very_late_days=very_late_days
    )


def labels_from_timeline(
    timeline: pd.DataFrame,
    *,
    as_of: datetime.date,
    horizon_days: int,
    very_late_days: int = DEFAULT_VERY_LATE_DAYS,
) -> pd.DataFrame:
    """Labels from `InvoiceTimeline.invoices` of a ledger already cut at `as_of`."""
    cut = pd.Timestamp(as_of)
    horizon = pd.Timedelta(days=horizon_days)
    due = timeline["due_date"]
    settled = timeline["settled_date"]
    written_off = timeline["write_off_date"].notna()
    late = (settled - due).dt.days.astype("float64")
    settled_in_time = settled.notna() & (late <= horizon_days)
    mature = (due + horizon < cut) | settled.notna() | written_off
    default = mature & (written_off | ~settled_in_time)
    days_late = np.minimum(late.fillna(float(horizon_days)), float(horizon_days)).where(mature)
    default_flag = default.to_numpy().astype("int64")
    return pd.DataFrame(
        {
            "settled_date": settled.to_numpy(),
            "days_late": days_late.to_numpy(dtype="float64"),
            "default": default_flag,
            "very_late": very_late_at(days_late, default_flag, very_late_days),
            "mature": mature.to_numpy(dtype=bool),
        },
        index=pd.Index(timeline["invoice_id"], name="invoice_id"),
    )
