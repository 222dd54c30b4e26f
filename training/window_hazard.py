"""The hazard candidate of one backtest window: every invoice issued before the cut-off.

Unlike the direct models it learns from the invoices of the last months before the
cut-off whose outcome is still open: the weeks they have stayed unpaid so far are known
(right-censored rows, `training.folds.censoring_at`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kernel.config import Settings
from kernel.errors import InsufficientDataError
from training.candidates import Observed, fit_hazard_model, hazard_answers
from training.dataset import issue_rows
from training.folds import censoring_at
from training.models import TrainConfig, fit_calibrator

if TYPE_CHECKING:
    from training.backtest import WindowResult

__all__ = ["hazard_window", "observed"]


def observed(
    table: pd.DataFrame,
    X: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    *,
    cutoff: pd.Timestamp,
    names: list[str],
    horizon_days: int,
) -> Observed:
    """The hazard model's rows: (stop, settled) of each row as known at `cutoff`."""
    stop, settled = censoring_at(table, cutoff, horizon_days=horizon_days)
    return Observed(
        X[train], stop[train], settled[train], X[valid], stop[valid], settled[valid], names
    )


def hazard_window(
    result: WindowResult,
    table: pd.DataFrame,
    X: np.ndarray,
    *,
    names: list[str],
    settings: Settings,
    config: TrainConfig,
    y: np.ndarray | None,
) -> None:
    """Fit the hazard candidate on every invoice issued before the cut-off, censored there.

    Unlike the direct models it learns from the invoices of the last months before the
    cut-off whose outcome is still open: their weeks unpaid so far are known.
    """
    window = result.window
    cutoff = pd.Timestamp(window.cutoff)
    issue = issue_rows(table)
    before = (table["issue_date"] < cutoff).to_numpy()
    valid = window.valid & issue
    obs = observed(
        table,
        X,
        issue & before & ~window.valid,
        valid,
        cutoff=cutoff,
        names=names,
        horizon_days=settings.horizon_days,
    )
    try:
        model = fit_hazard_model(
            obs,
            config=config,
            horizon_days=settings.horizon_days,
            max_rows=settings.hazard_max_rows,
        )
    except InsufficientDataError as exc:
        result.notes.append(f"no hazard model in window {window.index + 1}: {exc}")
        return
    # Each matrix is predicted once: the days-late and risk answers share the per-bin hazards.
    test_days, test_raw = hazard_answers(model, result.test.X)
    open_days, open_raw = hazard_answers(model, result.open_test.X)
    result.days["hazard"], result.open_days["hazard"] = test_days, open_days
    result.rounds["days.hazard"] = {"hazard": model.booster.num_trees()}
    if y is None:
        return
    calibrator = fit_calibrator(
        hazard_answers(model, X[valid])[1],
        y[valid],
        isotonic_min_defaults=settings.calibration_isotonic_min_defaults,
    )
    result.risk_raw["hazard"] = test_raw
    result.risk["hazard"] = calibrator(test_raw)
    result.open_risk["hazard"] = calibrator(open_raw)
    result.rounds["risk.hazard"] = {"hazard": model.booster.num_trees()}
