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
    """Write the plots of one backtest to `out_dir`; the default-model plots only if it exists.

    Returns:
        The files written.
    """
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    test, pred = result.test, result.predictions
    written: list[Path] = []

    def save(fig: Figure, key: str) -> None:
        path = out_dir / PLOT_FILES[key]
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    if result.default_model is not None and len(np.unique(test.default)) == 2:
        _default_plots(plt, test, pred, save)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(test.days_late, pred["days_late"], s=4, alpha=0.3, label="mean forecast")
    lo, hi = float(np.min(test.days_late, initial=0)), float(np.max(test.days_late, initial=1))
    ax.plot([lo, hi], [lo, hi], ":", color="grey")
    ax.set(xlabel="actual days late", ylabel="predicted days late", title="Days late, test period")
    save(fig, "days_late")

    model = result.default_model or result.days_late_models["mean"]
    gain = model.feature_importance(importance_type="gain")
    order = np.argsort(gain)[::-1][:_TOP_FEATURES][::-1]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh([result.feature_columns[i] for i in order], gain[order])
    which = "default model" if result.default_model is not None else "days-late model"
    ax.set(xlabel="total gain", title=f"Feature importance ({which})")
    save(fig, "importance")
    logger.info("Wrote %d plots to %s", len(written), out_dir)
    return written


def _default_plots(
    plt: Any, test: TestSet, pred: dict[str, np.ndarray], save: Callable[[Figure, str], None]
) -> None:
    """ROC, calibration and capture plots of the default model and its baselines."""
    from sklearn.metrics import roc_curve

    scores = {
        name: pred[key]
        for name, key in (
            ("model", "p_default"),
            ("history baseline", "history_default"),
            ("logistic baseline", "logistic_default"),
        )
        if key in pred
    }
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(test.default, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test period")
    ax.legend()
    save(fig, "roc")

    fig, ax = plt.subplots(figsize=(5, 5))
    order = np.argsort(pred["p_default"], kind="stable")
    bins = np.array_split(order, 10)
    ax.plot(
        [pred["p_default"][b].mean() for b in bins],
        [test.default[b].mean() for b in bins],
        "o-",
        label="model (deciles)",
    )
    top = max(float(pred["p_default"].max()), float(test.default.mean()) * 2, 0.05)
    ax.plot([0, top], [0, top], ":", color="grey", label="perfect calibration")
    ax.set(xlabel="predicted P(default)", ylabel="observed default rate", title="Calibration")
    ax.legend()
    save(fig, "calibration")

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        x, y = capture_curve(test.default, p, test.amount)
        ax.plot(x, y, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="random")
    ax.set(
        xlabel="share of invoices (ranked by expected loss)",
        ylabel="share of defaulted amount captured",
        title="Capture curve",
    )
    ax.legend()
    save(fig, "capture")
