"""Backtest plots, written as PNG files for MLflow: ROC, calibration, capture, days late,
feature importance. Matplotlib's Agg backend only (no display needed, safe in servers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.backtest import BacktestResult
from training.evaluation import TestSet
from training.metrics import capture_curve

if TYPE_CHECKING:  # matplotlib itself is imported lazily (see `_pyplot`)
    from matplotlib.figure import Figure

__all__ = ["PLOT_FILES", "write_plots"]

logger = logging.getLogger(__name__)

PLOT_FILES = {
    "roc": "roc.png",
    "calibration": "calibration.png",
    "capture": "capture.png",
    "days_late": "days_late.png",
    "importance": "feature_importance.png",
}
_TOP_FEATURES = 20


def _pyplot() -> Any:
    # Imported lazily: matplotlib is slow to import and only plots need it.
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def write_plots(result: BacktestResult, out_dir: Path) -> list[Path]:
    """Write the plots of one backtest (pooled test windows) to `out_dir`.

    The risk plots only when there is a risk model. Returns the files written.
    """
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    pooled = result.pooled
    assert pooled is not None, "plots are drawn from a finished backtest"
    written: list[Path] = []

    def save(fig: Figure, key: str) -> None:
        path = out_dir / PLOT_FILES[key]
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    risk_test = pooled.risk_test
    if result.risk is not None and risk_test is not None and len(np.unique(risk_test.default)) == 2:
        words = _TARGET_WORDS.get(result.risk_target or "default", _TARGET_WORDS["default"])
        _default_plots(plt, risk_test, pooled.risk, result.risk.name, words, save)

    test = pooled.test
    served = result.choices["days_late"].served
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(test.days_late, pooled.days[served]["mean"], s=4, alpha=0.3, label=served)
    lo, hi = float(np.min(test.days_late, initial=0)), float(np.max(test.days_late, initial=1))
    ax.plot([lo, hi], [lo, hi], ":", color="grey")
    ax.set(xlabel="actual days late", ylabel="predicted days late", title="Days late, test windows")
    save(fig, "days_late")
    save(_importance(plt, result), "importance")
    logger.info("Wrote %d plots to %s", len(written), out_dir)
    return written


# Axis words per risk target: predicted, observed, captured amount.
_TARGET_WORDS = {
    "default": (
        "predicted P(default)",
        "observed default rate",
        "share of defaulted amount captured",
    ),
    "very_late": (
        "predicted P(very late)",
        "observed rate of very late payment",
        "share of very-late amount captured",
    ),
}


def _importance(plt: Any, result: BacktestResult) -> Figure:
    """Gain importance of the served LightGBM model (a note when a baseline is served)."""
    model = None
    if result.risk is not None and result.risk.booster is not None:
        model, which = result.risk.booster, "risk model"
    elif result.days is not None and result.days.boosters is not None:
        model, which = result.days.boosters["mean"], "days-late model"
    fig, ax = plt.subplots(figsize=(6, 6))
    if model is None:
        ax.text(0.5, 0.5, "a baseline is served: no tree importance", ha="center")
        ax.set_axis_off()
        return fig
    gain = model.feature_importance(importance_type="gain")
    order = np.argsort(gain)[::-1][:_TOP_FEATURES][::-1]
    ax.barh([result.feature_columns[i] for i in order], gain[order])
    ax.set(xlabel="total gain", title=f"Feature importance ({which})")
    return fig


def _default_plots(
    plt: Any,
    test: TestSet,
    scores: dict[str, np.ndarray],
    served: str,
    words: tuple[str, str, str],
    save: Callable[[Figure, str], None],
) -> None:
    """ROC, calibration and capture plots of every risk candidate (calibration: the served)."""
    from sklearn.metrics import roc_curve

    p_served = scores[served]
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(test.default, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test windows")
    ax.legend()
    save(fig, "roc")

    fig, ax = plt.subplots(figsize=(5, 5))
    order = np.argsort(p_served, kind="stable")
    bins = np.array_split(order, 10)
    ax.plot(
        [p_served[b].mean() for b in bins],
        [test.default[b].mean() for b in bins],
        "o-",
        label=f"{served} (deciles)",
    )
    top = max(float(p_served.max()), float(test.default.mean()) * 2, 0.05)
    ax.plot([0, top], [0, top], ":", color="grey", label="perfect calibration")
    predicted, observed, amount = words
    ax.set(xlabel=predicted, ylabel=observed, title="Calibration")
    ax.legend()
    save(fig, "calibration")

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        x, y = capture_curve(test.default, p, test.amount)
        ax.plot(x, y, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="random")
    ax.set(
        xlabel="share of invoices (ranked by expected loss)",
        ylabel=amount,
        title="Capture curve",
    )
    ax.legend()
    save(fig, "capture")
