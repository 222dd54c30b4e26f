"""Rolling-origin windows: each test window trains only on what was known at its start.

A window has a cut-off date t (the start of its test period). Everything it learns from
was known before t: rows whose outcome window closed before t (due date + H < t), so no
training label depends on an event dated on or after t. Among those rows the latest
issue dates form the validation slice (early stopping, calibration) and the earlier ones
the training slice. The window's test rows are the invoices issued in [t, t + T) whose
outcome is complete at the as-of date.

Why the validation slice is not the period right before t, as in the textbook split:
with a 90-day horizon no invoice issued in the 90 days before t has its outcome known
at t (its window closes at issue + terms + H). A validation period there would label
its invoices with outcomes learnt later, which made the old backtest optimistic (8.5 %
of its training rows got their outcome after the validation period began).

The price of honesty is the last H + terms days before each cut-off: their outcomes are
not known yet. The direct models leave them out (keeping only their early payers would
make recent defaults vanish); the hazard model learns from them as right-censored rows
(`training.hazard`), which is what the censoring columns below are for.

Windows are laid back to back from the last complete issue date: window 0 is the
latest. With too little history for the configured number of windows, the periods
shrink (down to `_MIN_TEST_DAYS`) and fewer windows run, each with a stated reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Window",
    "WindowPlan",
    "censoring_at",
    "known_before",
    "plan_windows",
    "window_at",
]

logger = logging.getLogger(__name__)

_MIN_TEST_DAYS = 14
_MIN_VALID_DAYS = 14


@dataclass(frozen=True)
class Window:
    """One rolling-origin window: row masks of the table and its periods ([start, end) ISO)."""

    index: int  # 0 = the latest
    cutoff: str  # the test start: nothing dated on or after it is learnt from
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_period: tuple[str, str]
    valid_period: tuple[str, str]
    test_period: tuple[str, str]

    def rows(self) -> dict[str, int]:
        """Row counts of the window's slices."""
        return {
            "train": int(self.train.sum()),
            "valid": int(self.valid.sum()),
            "test": int(self.test.sum()),
        }


@dataclass(frozen=True)
class WindowPlan:
    """The windows that could run (latest first), and why there are not more."""

    windows: list[Window]
    test_days: int
    valid_days: int
    notes: list[str]
    excluded: int  # rows whose outcome is not complete at the as-of date

    @property
    def test_period(self) -> tuple[str, str]:
        """The pooled test period: from the earliest window's start to the latest's end."""
        return (self.windows[-1].test_period[0], self.windows[0].test_period[1])


def _iso(ts: pd.Timestamp) -> str:
    return ts.date().isoformat()


def known_before(table: pd.DataFrame, cutoff: pd.Timestamp, *, horizon_days: int) -> np.ndarray:
    """Rows whose whole outcome window (due date + H) closed before `cutoff`."""
    horizon_end = table["due_date"] + pd.Timedelta(days=horizon_days)
    return (horizon_end < cutoff).to_numpy()


def censoring_at(
    table: pd.DataFrame, cutoff: pd.Timestamp, *, horizon_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """(stop, settled) of every row as known at `cutoff`, in days relative to the due date.

    Settled before the cut-off and within H: stop = days late, settled. Otherwise the
    invoice is unsettled as far as the cut-off knows: stop = the last day observed
    (cut-off - 1 - due), capped at H; a stop of H unsettled is a default. Write-offs
    before the window closes count as censored (the table keeps no write-off date;
    they are a small share and censoring them loses information, it invents none).
    """
    due = table["due_date"]
    settled_date = table["settled_date"]
    late = (settled_date - due).dt.days.to_numpy(dtype="float64")
    settled = (settled_date < cutoff).to_numpy() & (late <= horizon_days)
    observed = ((cutoff - pd.Timedelta(days=1)) - due).dt.days.to_numpy(dtype="float64")
    stop = np.where(settled, late, np.minimum(observed, float(horizon_days)))
    return stop, settled


def window_at(
    table: pd.DataFrame,
    index: int,
    test_start: pd.Timestamp,
    test_days: int,
    valid_days: int,
    *,
    complete: np.ndarray,
    horizon_days: int,
) -> Window:
    """The window whose test period starts at `test_start` (its cut-off).

    `complete` marks the rows whose outcome is complete at the as-of date (test rows).
    """
    issue = table["issue_date"].to_numpy()
    test_end = test_start + pd.Timedelta(days=test_days)
    test = complete & (issue >= test_start.to_datetime64()) & (issue < test_end.to_datetime64())
    pool = known_before(table, test_start, horizon_days=horizon_days)
    if pool.any():
        first = table["issue_date"][pool].min().normalize()
        pool_end = table["issue_date"][pool].max().normalize() + pd.Timedelta(days=1)
    else:
        first = pool_end = test_start
    valid_start = pool_end - pd.Timedelta(days=valid_days)
    valid = pool & (issue >= valid_start.to_datetime64())
    train = pool & (issue < valid_start.to_datetime64())
    return Window(
        index=index,
        cutoff=_iso(test_start),
        train=train,
        valid=valid,
        test=test,
        train_period=(_iso(first), _iso(valid_start)),
        valid_period=(_iso(valid_start), _iso(pool_end)),
        test_period=(_iso(test_start), _iso(test_end)),
    )


def _lay(
    table: pd.DataFrame,
    *,
    end: pd.Timestamp,
    windows: int,
    test_days: int,
    valid_days: int,
    min_train_rows: int,
    complete: np.ndarray,
    horizon_days: int,
) -> tuple[list[Window], str | None]:
    """Windows back from `end` while each has training, validation and test rows."""
    laid: list[Window] = []
    for k in range(windows):
        start = end - pd.Timedelta(days=(k + 1) * test_days)
        w = window_at(
            table,
            k,
            start,
            test_days,
            valid_days,
            complete=complete,
            horizon_days=horizon_days,
        )
        rows = w.rows()
        if rows["train"] < min_train_rows or rows["valid"] == 0 or rows["test"] == 0:
            return laid, (
                f"window {k + 1} (test from {w.test_period[0]}) would have {rows['train']} "
                f"training rows known before its start (at least {min_train_rows} needed, "
                f"DUECAST_MIN_SETTLED_INVOICES), {rows['valid']} validation and "
                f"{rows['test']} test rows"
            )
        laid.append(w)
    return laid, None


def plan_windows(
    table: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    horizon_days: int,
    windows: int,
    test_days: int,
    valid_days: int,
    min_train_rows: int,
) -> WindowPlan:
    """Lay up to `windows` test windows back from the last complete issue date.

    When fewer fit, the test and validation periods halve (not below two weeks) and the
    plan with the most windows is kept; the notes say why there are not `windows`.
    """
    cut = pd.Timestamp(as_of)
    complete = known_before(table, cut, horizon_days=horizon_days)
    excluded = int((~complete).sum())
    if not complete.any():
        return WindowPlan(
            [], test_days, valid_days, ["no invoice has a complete outcome"], excluded
        )
    end = table["issue_date"][complete].max().normalize() + pd.Timedelta(days=1)
    best: tuple[list[Window], str | None, int, int] = ([], None, test_days, valid_days)
    t_days, v_days = test_days, valid_days
    while True:
        laid, why = _lay(
            table,
            end=end,
            windows=windows,
            test_days=t_days,
            valid_days=v_days,
            min_train_rows=min_train_rows,
            complete=complete,
            horizon_days=horizon_days,
        )
        if len(laid) > len(best[0]) or (not best[0] and best[1] is None):
            best = (laid, why, t_days, v_days)
        if len(laid) == windows or t_days // 2 < _MIN_TEST_DAYS:
            break
        t_days, v_days = t_days // 2, max(_MIN_VALID_DAYS, v_days // 2)
    laid, why, t_days, v_days = best
    notes: list[str] = []
    if laid and t_days != test_days:
        notes.append(
            f"the history is short: test windows of {t_days} days and validation slices of "
            f"{v_days} days instead of {test_days} and {valid_days} "
            "(DUECAST_BACKTEST_TEST_DAYS, DUECAST_BACKTEST_VALID_DAYS)"
        )
    if len(laid) < windows:
        notes.append(
            f"{len(laid)} test window(s) instead of {windows}: "
            + (why or "no window has training rows known before its start")
        )
    for note in notes:
        logger.warning("%s", note)
    return WindowPlan(laid, t_days, v_days, notes, excluded)
