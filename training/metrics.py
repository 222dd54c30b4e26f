"""Backtest metrics, with the names `duecast evaluate --json` reports.

default: roc_auc, pr_auc, brier, ece, capture_top10, capture_top20.
days late: mae, rmse, within_7d, interval_coverage.

A metric that is undefined on the rows given (one class only, no rows) is None, never
a made-up number.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

__all__ = [
    "ECE_BINS",
    "amount_capture",
    "capture_curve",
    "days_late_metrics",
    "default_metrics",
    "expected_calibration_error",
]

# Equal-mass bins: most probabilities of default are small, so equal-width bins would
# put nearly every invoice into the first bin and hide miscalibration there.
ECE_BINS = 10


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """Mean |observed rate - mean probability| over equal-mass bins, weighted by bin size."""
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(bins, len(order))):
        total += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return total / len(y)


def capture_curve(
    y: np.ndarray, score: np.ndarray, amount: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Share of defaulted amount captured by the top k invoices ranked by expected loss.

    Invoices are ranked by score x amount (expected loss, the worklist order).

    Returns:
        (share of invoices, share of defaulted amount), both from 0 to 1.
    """
    y = np.asarray(y, dtype="float64")
    amount = np.asarray(amount, dtype="float64")
    loss = np.asarray(score, dtype="float64") * amount
    order = np.argsort(-loss, kind="stable")
    defaulted = np.cumsum((y * amount)[order])
    total = defaulted[-1] if len(defaulted) else 0.0
    x = np.arange(1, len(order) + 1) / max(len(order), 1)
    return np.concatenate([[0.0], x]), np.concatenate(
        [[0.0], defaulted / total if total > 0 else np.zeros(len(order))]
    )


def amount_capture(y: np.ndarray, score: np.ndarray, amount: np.ndarray, top: float) -> float:
    """Share of the defaulted amount in the top `top` share of invoices by expected loss."""
    y = np.asarray(y, dtype="float64")
    amount = np.asarray(amount, dtype="float64")
    total = float((y * amount).sum())
    if total <= 0:
        return float("nan")
    order = np.argsort(-(np.asarray(score, dtype="float64") * amount), kind="stable")
    k = int(np.ceil(top * len(order)))
    return float((y * amount)[order[:k]].sum() / total)


def default_metrics(y: np.ndarray, p: np.ndarray, amount: np.ndarray) -> dict:
    """Ranking, calibration and capture metrics of default scores `p` against 0/1 `y`."""
    y = np.asarray(y, dtype="int64")
    p = np.asarray(p, dtype="float64")
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": _round(roc_auc_score(y, p)) if both else None,
        "pr_auc": _round(average_precision_score(y, p)) if both else None,
        "brier": _round(brier_score_loss(y, p, labels=[0, 1])) if len(y) else None,
        "ece": _round(expected_calibration_error(y, p)) if len(y) else None,
        "capture_top10": _round(amount_capture(y, p, amount, 0.10)),
        "capture_top20": _round(amount_capture(y, p, amount, 0.20)),
        "n": len(y),
        "defaults": int(y.sum()),
    }


def days_late_metrics(
    y: np.ndarray,
    pred: np.ndarray,
    *,
    median: np.ndarray | None = None,
    p10: np.ndarray | None = None,
    p90: np.ndarray | None = None,
) -> dict:
    """Error metrics of predicted days late; interval coverage when p10 and p90 are given.

    Args:
        y: actual days late.
        pred: the mean forecast (used for rmse, which the mean minimises).
        median: the median forecast, used for mae and within_7d (absolute errors are
            minimised by the median); `pred` when not given.
        p10: lower end of the payment interval, in days (rounded to whole days).
        p90: upper end of the payment interval, in days (rounded to whole days).
    """
    y = np.asarray(y, dtype="float64")
    err = np.asarray(pred, dtype="float64") - y
    abs_err = np.abs((np.asarray(median, dtype="float64") - y) if median is not None else err)
    n = len(y)
    coverage = None
    if p10 is not None and p90 is not None and n:
        # Whole days, as serving shows them (a payment date is due date + round(days)):
        # a p90 of 89.99 days at a 90-day cap covers an invoice paid on day 90.
        low, high = np.round(np.asarray(p10)), np.round(np.asarray(p90))
        coverage = _round(float(((y >= low) & (y <= high)).mean()))
    return {
        "mae": _round(float(abs_err.mean())) if n else None,
        "rmse": _round(float(np.sqrt((err**2).mean()))) if n else None,
        "within_7d": _round(float((abs_err <= 7).mean())) if n else None,
        "interval_coverage": coverage,
        "n": n,
    }
