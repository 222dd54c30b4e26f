"""`duecast train --tune`: search LightGBM's parameters on the latest window's own rows.

The objective fits a LightGBM candidate on the latest backtest window's training rows
and scores it on that window's validation rows: everything it sees was known before the
window's cut-off, so the test windows stay out of the search and the backtest that
follows still measures held-out data. The risk model's validation log loss is the
objective when there is a risk target (the decisions rest on it), else the days-late
model's validation MAE. The best parameters then replace the sized ones in every
LightGBM model of the run (as `overrides`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import log_loss

from kernel.config import Settings
from training.candidates import Rows, fit_days, fit_risk
from training.models import TrainConfig
from training.sizing import sized_params
from training.tuning import TuneResult, tune

__all__ = ["TuneBudget", "tune_on_rows"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneBudget:
    """At most `trials` trials or `minutes` minutes (one of them set)."""

    trials: int | None = None
    minutes: float | None = None


def tune_on_rows(
    rows: Rows,
    *,
    config: TrainConfig,
    settings: Settings,
    budget: TuneBudget,
    with_risk: bool,
) -> TuneResult:
    """The best LightGBM parameters for `rows` (a window's training and validation rows)."""
    base = sized_params(len(rows.y_tr), n_features=len(rows.names))

    def objective(params: dict) -> float:
        trial = TrainConfig(
            seed=config.seed,
            threads=config.threads,
            max_rounds=config.max_rounds,
            early_stopping=config.early_stopping,
            params=params,
        )
        if with_risk:
            fit = fit_risk(
                "lightgbm",
                rows,
                config=trial,
                isotonic_min_defaults=settings.calibration_isotonic_min_defaults,
            )
            return float(log_loss(rows.y_va, fit.predict(rows.X_va), labels=[0, 1]))
        days = fit_days("lightgbm", rows, config=trial)
        return float(np.mean(np.abs(days.mean(rows.X_va) - rows.d_va)))

    result = tune(
        objective,
        base=base,
        trials=budget.trials,
        minutes=budget.minutes,
        seed=settings.train_seed,
    )
    logger.info(
        "Tuning: %d trials, best %s %.4f with %s",
        len(result.records),
        "log loss" if with_risk else "MAE",
        result.best_value,
        result.best_params,
    )
    return result
