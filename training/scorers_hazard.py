"""The discrete-time hazard model as a served model: one fitted model, both questions.

`training.hazard.HazardModel` gives the whole payment-date distribution of an invoice,
so P(not settled by due + H) and the days-late mean and quantiles come from the same
fit. `HazardRisk` and `HazardTiming` adapt it to the `RiskScorer` / `TimingScorer`
interface; a bundle serving both questions with it shares one model (saved once).
The model's own `to_dict` (its booster text inside) is stored as plain data in the
bundle's joblib file, which the manifest hashes like every other file.

The hazard model's contributions raise the hazard of paying, i.e. lower the risk and
the days late; both adapters negate them so that, as for every other scorer, a
positive contribution means riskier / later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import logit

from training.intervals import IntervalAdjustment
from training.scorers import DAYS_LATE_KEYS, RowFunction, ScoreCalibrator

__all__ = ["HazardRisk", "HazardTiming", "hazard_from_dict"]

_EPS = 1e-6  # as training.candidates clips before taking log-odds


def hazard_from_dict(d: dict[str, Any]) -> Any:
    """A `HazardModel` from its `to_dict` (imported here: the hazard module is optional)."""
    from training.hazard import HazardModel

    return HazardModel.from_dict(d)


def _warm(model: Any) -> None:
    """Score one empty row: the model makes its one-row predictor on first use."""
    model.predict_row(np.full((1, len(model.feature_names)), np.nan))


def _unpaid_since_row(model: Any, x: np.ndarray) -> float | None:
    """`unpaid_since` of one (1, f) row, on floats (numpy's calls cost more than the sum)."""
    names = model.feature_names
    if "invoice_age_days" not in names or "invoice_terms_days" not in names:
        return None
    row = x.reshape(-1)
    age = float(row[names.index("invoice_age_days")])
    terms = float(row[names.index("invoice_terms_days")])
    return (0.0 if math.isnan(age) else age) - (0.0 if math.isnan(terms) else terms)


def _raw(p: np.ndarray) -> np.ndarray:
    """Log-odds of P(default): the scale the backtest calibrated the hazard model on."""
    return logit(np.clip(np.asarray(p, dtype="float64"), _EPS, 1 - _EPS))


class HazardRisk:
    """P(default) = P(not settled by due + H) of the hazard model, optionally recalibrated.

    Every answer is conditioned on the invoice being unpaid at the row's snapshot
    (`HazardModel.unpaid_since`): at issue no condition, for an open invoice what the
    ledger shows. The calibrator, when the backtest fitted one, maps the log-odds of
    that probability to the served one.
    """

    kind = "hazard"

    def __init__(self, model: Any, calibrator: ScoreCalibrator | None = None) -> None:
        self.model = model
        self.calibrator = calibrator

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) probabilities."""
        X = np.asarray(X, dtype="float64")
        p = np.asarray(self.model.p_default(X, days_overdue=self.model.unpaid_since(X)))
        return p if self.calibrator is None else self.calibrator(_raw(p))

    def predict_row(self, x: np.ndarray) -> float:
        """The probability of one row."""
        since = _unpaid_since_row(self.model, x)
        p = float(self.model.predict_row(x, days_overdue=since, quantiles=False)["p_default"])
        if self.calibrator is None:
            return p
        return self.calibrator.one(float(logit(min(max(p, _EPS), 1 - _EPS))))  # `_raw`

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Minus the hazard model's contributions: positive = riskier / later."""
        return -np.asarray(self.model.contributions(np.asarray(X, dtype="float64")))

    def row_functions(self) -> dict[str, RowFunction]:
        """`predict_row`, run once so that the model's one-row predictor exists."""
        _warm(self.model)
        return {"default": self.predict_row}


class HazardTiming:
    """Days-late mean and quantiles of the hazard model's payment-date distribution,
    conditioned like `HazardRisk` on the invoice being unpaid at the row's snapshot."""

    kind = "hazard"

    def __init__(self, model: Any, interval: IntervalAdjustment | None = None) -> None:
        self.model = model
        # The p10-p90 recalibration fitted on the backtest windows (None: as the model says).
        self.interval = interval

    def _adjusted(self, days: Mapping[str, Any]) -> dict[str, np.ndarray]:
        out = {k: np.asarray(days[k], dtype="float64").reshape(-1) for k in DAYS_LATE_KEYS}
        if self.interval is not None:
            # Serving still keeps every date on or after today (scores.open_on).
            out["p10"], out["p50"], out["p90"] = self.interval.apply(
                out["p10"], out["p50"], out["p90"], cap=float(self.model.horizon_days)
            )
        return out

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays "mean", "p10", "p50", "p90" (p10 <= p50 <= p90)."""
        X = np.asarray(X, dtype="float64")
        days = self.model.days_late(X, days_overdue=self.model.unpaid_since(X))
        return self._adjusted(days)

    def predict_row(self, x: np.ndarray, quantiles: bool = True) -> dict[str, float]:
        """The same for one row (the model computes the quantiles in the same pass)."""
        since = _unpaid_since_row(self.model, x)
        row = self.model.predict_row(x, days_overdue=since, quantiles=quantiles)
        if not quantiles:  # the interval adjustment moves only the quantiles
            return {"mean": row["mean"]}
        adjusted = self._adjusted({k: np.array([row[k]]) for k in DAYS_LATE_KEYS})
        return {k: float(adjusted[k][0]) for k in DAYS_LATE_KEYS}

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Minus the hazard model's contributions: positive = riskier / later."""
        return -np.asarray(self.model.contributions(np.asarray(X, dtype="float64")))

    def row_functions(self) -> dict[str, RowFunction]:
        """The mean of one row, run once so that the model's one-row predictor exists."""
        _warm(self.model)
        return {"mean": lambda x: self.predict_row(x, quantiles=False)["mean"]}
