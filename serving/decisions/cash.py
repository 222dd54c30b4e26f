"""Cash forecast: expected collections per week from the open invoices' scores.

Each open invoice's payment date is due date + days late, with days late distributed
by a piecewise-linear CDF through its predicted quantiles:

    (lo, 0) — (p10, 0.1) — (p50, 0.5) — (p90, 0.9) — (hi, 1)

where the tails extend the neighbouring slopes (lo = p10 − (p50 − p10) / 4,
hi = p90 + (p90 − p50) / 4). The invoice is still open today, so the distribution is
conditioned on payment from today on; when the whole predicted range already lies in
the past, it is re-anchored to start today (late beyond prediction, still expected).
Each invoice is collected with probability 1 − P(default) (1 without a default model).

Week k covers as_of + 7k .. as_of + 7k + 6. The weekly interval is a normal
approximation of the sum of independent invoices (each paid that week or not), with
central coverage `policy.cash_interval`; `later` holds what falls after the last week.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from kernel.policy import PolicySettings
from serving.decisions.records import OpenInvoice

__all__ = ["CashForecast", "WeekForecast", "cash_forecast", "payment_cdf"]

_QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)


@dataclass(frozen=True)
class WeekForecast:
    """Expected collections of one week, with an interval."""

    week_start: dt.date
    week_end: dt.date  # inclusive
    expected: float
    low: float
    high: float


@dataclass(frozen=True)
class CashForecast:
    """Expected collections per week.

    Attributes:
        as_of: the first day of week 1.
        weeks: one entry per week, in order.
        later: expected collections after the last week.
        expected_total: Σ open amount × (1 − P(default)) = Σ weeks.expected + later.
        open_total: Σ open amount.
        expected_loss: Σ open amount × P(default) (open_total − expected_total).
        interval: central coverage of the weekly low / high.
        notes: caveats in words (e.g. no default model).
    """

    as_of: dt.date
    weeks: tuple[WeekForecast, ...]
    later: float
    expected_total: float
    open_total: float
    expected_loss: float
    interval: float
    notes: tuple[str, ...]


def _knots(q10: np.ndarray, q50: np.ndarray, q90: np.ndarray) -> np.ndarray:
    """(5, n) CDF knots: lo, p10, p50, p90, hi."""
    lo = q10 - (q50 - q10) / 4.0
    hi = q90 + (q90 - q50) / 4.0
    return np.vstack([lo, q10, q50, q90, hi])


def _cdf(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """P(days late < x) under the piecewise-linear CDF (a sum of ramps, one per segment)."""
    out = np.zeros(np.broadcast(x, knots[0]).shape)
    for k in range(4):
        x0, x1 = knots[k], knots[k + 1]
        mass = _QUANTILES[k + 1] - _QUANTILES[k]
        width = x1 - x0
        # Segments narrower than a millionth of a day are steps (and avoid overflow).
        with np.errstate(all="ignore"):
            ramp = np.where(width > 1e-6, np.clip((x - x0) / width, 0.0, 1.0), (x > x0) * 1.0)
        out = out + mass * ramp
    return out


def payment_cdf(days_late: float, *, p10: float, p50: float, p90: float) -> float:
    """P(settled before `days_late` days after due) from the predicted quantiles."""
    q = np.sort(np.array([p10, p50, p90], dtype="float64"))
    knots = _knots(q[:1], q[1:2], q[2:3])
    return float(_cdf(np.array([float(days_late)]), knots)[0])


def _arrays(invoices: Iterable[OpenInvoice]) -> dict[str, np.ndarray]:
    rows = [
        (
            inv.due_date.toordinal(),
            inv.open_amount,
            inv.p_default,
            inv.days_late,
            inv.days_late_p10,
            inv.days_late_p50,
            inv.days_late_p90,
        )
        for inv in invoices
        if inv.open_amount > 0
    ]
    names = ("due", "amount", "p", "mean", "p10", "p50", "p90")
    if not rows:
        return {n: np.zeros(0) for n in names}
    cols = np.array(rows, dtype="float64").T
    return dict(zip(names, cols, strict=True))


def cash_forecast(
    invoices: Iterable[OpenInvoice],
    *,
    as_of: dt.date,
    policy: PolicySettings,
    weeks: int | None = None,
) -> CashForecast:
    """Expected collections per week from today, with an interval per week.

    Args:
        invoices: open invoices with their days-late quantiles and P(default).
        as_of: today (first day of week 1).
        policy: the decision policy (`cash_weeks`, `cash_interval`).
        weeks: weeks to forecast (default `policy.cash_weeks`).
    """
    n_weeks = policy.cash_weeks if weeks is None else int(weeks)
    if n_weeks < 1:
        raise ValueError("a cash forecast needs at least one week")
    a = _arrays(invoices)
    notes: list[str] = []
    p = a["p"]
    if np.isnan(p).any():
        notes.append(
            "no chance of default for some invoices (no default model): "
            "they count as fully collected"
        )
    collect = 1.0 - np.nan_to_num(p, nan=0.0)
    # Missing quantiles fall back to the mean prediction, then to the due date.
    mean = np.where(np.isnan(a["mean"]), a["p50"], a["mean"])
    mean = np.nan_to_num(mean, nan=0.0)
    q = np.vstack([np.where(np.isnan(a[k]), mean, a[k]) for k in ("p10", "p50", "p90")])
    q10, q50, q90 = np.sort(q, axis=0)
    knots = _knots(q10, q50, q90)
    start = as_of.toordinal() - a["due"]  # days late if paid today
    already = _cdf(start, knots)
    stale = already > 1.0 - 1e-9
    if stale.any():
        # Predicted range entirely past: keep its shape but start it today.
        knots = knots + np.where(stale, start - knots[0], 0.0)
        already = np.where(stale, 0.0, already)
    remaining = 1.0 - already
    z = NormalDist().inv_cdf(0.5 + policy.cash_interval / 2.0)
    amount = a["amount"]
    out: list[WeekForecast] = []
    done = already
    for k in range(n_weeks):
        upto = _cdf(start + 7 * (k + 1), knots)
        share = np.where(remaining > 0, (upto - done) / np.where(remaining > 0, remaining, 1), 0)
        prob = np.clip(collect * share, 0.0, 1.0)
        expected = float(np.sum(amount * prob))
        sd = float(np.sqrt(np.sum(amount**2 * prob * (1.0 - prob))))
        first = as_of + dt.timedelta(days=7 * k)
        out.append(
            WeekForecast(
                week_start=first,
                week_end=first + dt.timedelta(days=6),
                expected=expected,
                low=max(0.0, expected - z * sd),
                high=expected + z * sd,
            )
        )
        done = upto
    expected_total = float(np.sum(amount * collect))
    later = max(0.0, expected_total - sum(w.expected for w in out))
    open_total = float(np.sum(amount))
    return CashForecast(
        as_of=as_of,
        weeks=tuple(out),
        later=later,
        expected_total=expected_total,
        open_total=open_total,
        expected_loss=open_total - expected_total,
        interval=policy.cash_interval,
        notes=tuple(notes),
    )
