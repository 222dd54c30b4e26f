"""The champion: the served candidates fitted again on all known history.

The backtest windows each leave out the months after their cut-off; the model that is
served must not (on a small ledger the latest 180 days are 15-30 % of its history). The
refit learns from every row whose outcome is complete at the as-of date, with what the
windows chose instead of a validation period of its own:

- rounds: the median of the windows' early-stopped rounds, per model;
- calibration: fitted on the windows' out-of-time raw scores and outcomes;
- the baselines' p10/p90 band: the windows' out-of-time residuals;
- interval recalibration (`training.intervals`): fitted on the windows' out-of-time
  p10/p90 against what happened, folded into the served models.

The evaluation keeps the held-out figures of the windows, never the refit's own.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kernel.config import Settings
from kernel.errors import InsufficientDataError
from training.candidates import (
    BLEND_PARTS,
    DaysFit,
    RiskFit,
    Rows,
    fit_days,
    fit_hazard_model,
    fit_risk,
    widen,
)
from training.choice import Choice
from training.dataset import issue_rows
from training.folds import known_before
from training.hazard import HazardModel
from training.intervals import IntervalAdjustment, fit_interval_adjustment
from training.models import TrainConfig, fit_calibrator

if TYPE_CHECKING:
    from training.backtest import BacktestResult, Labels
    from training.report import Pooled

__all__ = ["INTERVAL_NOMINAL", "median_rounds", "refit_served"]

logger = logging.getLogger(__name__)

INTERVAL_NOMINAL = 0.8  # p10..p90


def median_rounds(result: BacktestResult, key: str) -> dict[str, int]:
    """Per model of candidate `key` ("risk.lightgbm", ...): the windows' median rounds."""
    seen = [w.rounds[key] for w in result.windows if key in w.rounds]
    models = seen[0].keys() if seen else ()
    return {m: int(np.median([s[m] for s in seen])) for m in models}


@dataclass(frozen=True)
class _Refit:
    """What every candidate's refit shares: all known rows, the base config, the pools."""

    result: BacktestResult
    rows: Rows
    base: TrainConfig
    pooled: Pooled
    settings: Settings
    hazard: HazardModel | None

    def config(self, key: str) -> TrainConfig:
        rounds = median_rounds(self.result, key) or None
        return dataclasses.replace(self.base, rounds=rounds)

    def days(self, name: str) -> DaysFit:
        if name == "blend":
            return DaysFit("blend", parts=tuple(self.days(p) for p in BLEND_PARTS))
        if name == "hazard":
            assert self.hazard is not None
            return DaysFit("hazard", hazard=self.hazard)
        residuals = self.pooled.test.days_late - self.pooled.days[name]["mean"]
        return fit_days(name, self.rows, config=self.config(f"days.{name}"), residuals=residuals)

    def risk(self, name: str) -> RiskFit:
        if name == "blend":
            return RiskFit("blend", parts=tuple(self.risk(p) for p in BLEND_PARTS))
        assert self.pooled.risk_test is not None
        calibration = (self.pooled.risk_raw[name], self.pooled.risk_test.default)
        isotonic = self.settings.calibration_isotonic_min_defaults
        if name == "hazard":
            assert self.hazard is not None
            calibrator = fit_calibrator(*calibration, isotonic_min_defaults=isotonic)
            return RiskFit("hazard", calibrator=calibrator, hazard=self.hazard)
        return fit_risk(
            name,
            self.rows,
            config=self.config(f"risk.{name}"),
            isotonic_min_defaults=isotonic,
            calibration=calibration,
        )


def refit_served(
    result: BacktestResult,
    table: pd.DataFrame,
    X: np.ndarray,
    labels: Labels,
    *,
    choices: dict[str, Choice],
    pooled: Pooled,
    settings: Settings,
) -> None:
    """Fit the served candidates on all known history; set `result.risk` and `result.days`."""
    from training.backtest import sample_rows, train_config

    known = known_before(table, pd.Timestamp(result.as_of), horizon_days=settings.horizon_days)
    rows_at = sample_rows(known, settings.train_max_rows, seed=settings.train_seed)
    y = labels.risk if labels.risk is not None else np.zeros(len(table), dtype="int64")
    # Rounds are fixed, so nothing is validated: the validation slot holds one row.
    rows = Rows(
        X[rows_at],
        y[rows_at],
        labels.days[rows_at],
        X[rows_at[:1]],
        y[rows_at[:1]],
        labels.days[rows_at[:1]],
        result.feature_columns,
    )
    base = train_config(settings, n_rows=len(rows_at), n_features=len(result.feature_columns))
    days_name = choices["days_late"].served
    risk_name = choices["risk"].served if "risk" in choices else None
    hazard = None
    if "hazard" in (days_name, risk_name):
        hazard = _refit_hazard(result, table, X, base=base, settings=settings)
    refit = _Refit(result, rows, base, pooled, settings, hazard)
    oot = pooled.days[days_name]
    try:
        adjustment = fit_interval_adjustment(
            oot["p10"], oot["p90"], pooled.test.days_late, nominal=INTERVAL_NOMINAL
        )
    except InsufficientDataError as exc:
        logger.warning("p10-p90 interval not recalibrated: %s", exc)
        adjustment = IntervalAdjustment(0.0, 0.0, INTERVAL_NOMINAL)
    result.days = widen(refit.days(days_name), adjustment.low_shift, adjustment.high_shift)
    result.params["refit"] = {
        "rows": len(rows_at),
        "days_late": {"served": days_name, "rounds": result.days.rounds()},
        "interval_adjustment": adjustment.to_dict(),
    }
    if risk_name is not None and pooled.risk_test is not None:
        result.risk = refit.risk(risk_name)
        result.params["refit"]["risk"] = {"served": risk_name, "rounds": result.risk.rounds()}
    logger.info("Refit on %d rows: risk %s, days late %s", len(rows_at), risk_name, days_name)


def _refit_hazard(
    result: BacktestResult,
    table: pd.DataFrame,
    X: np.ndarray,
    *,
    base: TrainConfig,
    settings: Settings,
) -> HazardModel:
    """The hazard model on every invoice issued before the as-of date, open ones censored."""
    from training.window_hazard import observed

    issue = issue_rows(table)
    rounds = median_rounds(result, "days.hazard")
    obs = observed(
        table,
        X,
        issue,
        np.zeros_like(issue),
        cutoff=pd.Timestamp(result.as_of),
        names=result.feature_columns,
        horizon_days=settings.horizon_days,
    )
    return fit_hazard_model(
        obs,
        config=dataclasses.replace(base, rounds=rounds),
        horizon_days=settings.horizon_days,
        max_rows=settings.hazard_max_rows,
    )
