"""Recalibration of the p10-p90 days-late interval on out-of-time predictions.

Quantile models fitted on the past are usually too narrow (or too wide) on later data:
customers drift and the quantile loss under-fits the tails. `fit_interval_adjustment`
shifts each end by a constant learnt on out-of-time predictions, with conformalized
quantile regression (Romano, Patterson and Candes, 2019), so that the share of later
invoices paid inside the interval is the nominal 80 %.

Each tail gets its own shift (the asymmetric variant of CQR), not one shift for both:
days late are skewed (most invoices pay around the due date, a long tail pays weeks
late, and the horizon caps them), so the lower end may be about right while the upper
end is far too low. Calibrating each tail to miss (1 - nominal) / 2 of the rows keeps
the interval an equal-tailed one, as p10 and p90 promise.

Intervals are shown and scored in whole days (`training.metrics.days_late_metrics`
rounds both ends). Days late are whole days too, and for a whole number y and any
bound b, y >= round(b) exactly when y >= b - 0.5: with `whole_days` the fit scores that
rounded interval, so the coverage guarantee holds for the interval as served.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from kernel.errors import InsufficientDataError, InvalidRequestError

__all__ = ["IntervalAdjustment", "coverage", "fit_interval_adjustment"]


@dataclass(frozen=True)
class IntervalAdjustment:
    """Days to move p10 down (`low_shift`) and p90 up (`high_shift`); negative narrows."""

    low_shift: float
    high_shift: float
    nominal: float = 0.8

    def apply(
        self, p10: Any, p50: Any, p90: Any, *, cap: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shifted (p10, p50, p90) with p10 <= p50 <= p90, all at most `cap` when given."""
        low = np.asarray(p10, dtype="float64") - self.low_shift
        mid = np.asarray(p50, dtype="float64")
        high = np.asarray(p90, dtype="float64") + self.high_shift
        if cap is not None:
            # Days late are capped at the horizon: no bound beyond it means anything.
            low, mid, high = np.minimum(low, cap), np.minimum(mid, cap), np.minimum(high, cap)
        return np.minimum(low, mid), mid, np.maximum(high, mid)

    def to_dict(self) -> dict[str, float]:
        """JSON-able fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IntervalAdjustment:
        """The adjustment `to_dict` wrote."""
        try:
            return cls(float(d["low_shift"]), float(d["high_shift"]), float(d["nominal"]))
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidRequestError(
                f"an interval adjustment needs numeric low_shift, high_shift and nominal; got {d!r}"
            ) from err


def coverage(p10: Any, p90: Any, y: Any, *, whole_days: bool = True) -> float:
    """Share of rows with p10 <= y <= p90; ends rounded to whole days as served."""
    low, high, actual = _arrays(p10, p90, y)
    if whole_days:
        low, high = np.round(low), np.round(high)
    return float(((actual >= low) & (actual <= high)).mean())


def fit_interval_adjustment(
    p10: Any, p90: Any, y: Any, *, nominal: float = 0.8, whole_days: bool = True
) -> IntervalAdjustment:
    """Per-tail conformal shifts that make [p10, p90] cover `nominal` of later rows.

    `p10`, `p90` are out-of-time predictions (made before `y` was known) and `y` the
    days late that followed. With `whole_days`, `y` must be whole days (see module).

    Raises:
        InsufficientDataError: too few rows for the finite-sample quantile.
    """
    if not 0 < nominal < 1:
        raise InvalidRequestError(f"nominal coverage must lie in (0, 1); got {nominal}")
    low, high, actual = _arrays(p10, p90, y)
    if whole_days and not np.array_equal(actual, np.round(actual)):
        raise InvalidRequestError(
            "whole_days needs days late in whole days; pass whole_days=False for "
            "fractional outcomes"
        )
    slack = 0.5 if whole_days else 0.0
    tail = (1 - nominal) / 2
    # Row i is inside the low end when p10 - shift <= y (minus the rounding slack), that
    # is when its score p10 - y - slack <= shift: the shift is a quantile of the scores.
    low_shift = _conformal_quantile(low - actual - slack, 1 - tail)
    high_shift = _conformal_quantile(actual - high - slack, 1 - tail)
    return IntervalAdjustment(low_shift, high_shift, nominal)


def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest score: P(new score <= it) >= level."""
    n = len(scores)
    rank = math.ceil((n + 1) * level - 1e-9)
    if rank > n:
        raise InsufficientDataError(
            f"calibrating an interval to {level:.0%} per tail needs at least "
            f"{math.ceil(level / (1 - level) - 1e-9)} out-of-time rows; got {n}. "
            "Keep the raw interval (IntervalAdjustment(0, 0)) or use a longer history."
        )
    return float(np.partition(scores, rank - 1)[rank - 1])


def _arrays(p10: Any, p90: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    low, high, actual = (np.asarray(v, dtype="float64").ravel() for v in (p10, p90, y))
    if len(actual) == 0:
        raise InsufficientDataError(
            "interval coverage needs at least one row with a known days-late outcome"
        )
    if not len(low) == len(high) == len(actual):
        raise InvalidRequestError(
            f"p10, p90 and y must have one value per row; got {len(low)}, {len(high)}, "
            f"{len(actual)}"
        )
    if not (np.isfinite(low).all() and np.isfinite(high).all() and np.isfinite(actual).all()):
        raise InvalidRequestError("p10, p90 and y must be finite; drop rows without an outcome")
    return low, high, actual
