"""The candidates of each question, fitted on one slice of rows.

Two questions: **risk** (P(default), or P(very late) when defaults are rare) and **days
late** (mean and p10/p50/p90). Candidates of each, the models first:

- `lightgbm`: LightGBM with parameters sized to the training rows (`training.sizing`).
- `lightgbm_residual`: the same, started from the shrunk customer-history mean
  (`training.offsets`): the trees learn only what the customer's own record misses.
- `logistic` / `linear`: the logistic and ridge baselines on the same features.
- `history`: the customer's own record (share paid late; mean days late).
- `hazard` (`training.window_hazard`): the discrete-time hazard model, both questions.
- `blend`: the average of `lightgbm` and `history` (no fit of its own).

Every risk candidate is a raw score plus a calibrator fitted on the validation rows
(Platt or isotonic, `training.models.fit_calibrator`), so Brier and ECE compare like
with like and any candidate can be served. Every days-late candidate gives p10/p50/p90:
the LightGBM ones from quantile models, the baselines as their mean plus the
validation residuals' quantiles (a band of constant width, honest about what a mean
alone knows).

`fit_*` take `Rows`; with `TrainConfig.rounds` set they fit a fixed number of trees
without looking at the validation rows (the refit on all history).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy.special import logit
from sklearn.pipeline import Pipeline

from features.spec_attributes import categorical_indices
from training.baselines import HistoryBaseline, fit_history_baseline, fit_linear, fit_logistic
from training.bundle import ScoreCalibrator
from training.hazard import HazardModel, fit_hazard
from training.intervals import IntervalAdjustment
from training.models import (
    QUANTILES,
    Offsets,
    TrainConfig,
    fit_calibrator,
    fit_days_late_models,
    fit_default_model,
    lgb_params,
    offset_trees,
)
from training.offsets import HistoryOffset, fit_history_offset

__all__ = [
    "BLEND_PARTS",
    "DAYS_CANDIDATES",
    "MODEL_CANDIDATES",
    "RISK_CANDIDATES",
    "DaysFit",
    "Observed",
    "RiskFit",
    "Rows",
    "blend_days",
    "fit_days",
    "fit_hazard_model",
    "fit_risk",
    "hazard_answers",
    "widen",
]

RISK_CANDIDATES = ("lightgbm", "lightgbm_residual", "logistic", "history")
DAYS_CANDIDATES = ("lightgbm", "lightgbm_residual", "linear", "history")
MODEL_CANDIDATES = frozenset({"lightgbm", "lightgbm_residual", "hazard", "blend"})
# The blend: the plain average of these two (`training.scorers_blend` says why).
BLEND_PARTS = ("lightgbm", "history")


@dataclass(frozen=True)
class Rows:
    """Training and validation rows of one fit: model matrix, risk labels, days late."""

    X_tr: np.ndarray
    y_tr: np.ndarray
    d_tr: np.ndarray
    X_va: np.ndarray
    y_va: np.ndarray
    d_va: np.ndarray
    names: list[str]


@dataclass(frozen=True)
class RiskFit:
    """A fitted risk candidate: its parts, raw score and calibrator."""

    name: str
    calibrator: ScoreCalibrator | None = None  # set once the raw scores exist
    booster: lgb.Booster | None = None
    offset: HistoryOffset | None = None
    pipeline: Pipeline | None = None
    history: HistoryBaseline | None = None
    hazard: HazardModel | None = None
    parts: tuple[RiskFit, ...] = ()  # the blend's parts, each calibrated on its own

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The uncalibrated score (log-odds for the LightGBM and logistic candidates)."""
        if self.parts:
            return logit(np.clip(self.predict(X), _EPS, 1 - _EPS))
        if self.hazard is not None:
            return hazard_answers(self.hazard, X)[1]
        if self.booster is not None:
            raw = np.asarray(self.booster.predict(X, raw_score=True), dtype="float64")
            return raw if self.offset is None else raw + self.offset.values(X)
        if self.pipeline is not None:
            return np.asarray(self.pipeline.decision_function(X), dtype="float64")
        assert self.history is not None
        return self.history.default_score(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        if self.parts:
            return np.mean([p.predict(X) for p in self.parts], axis=0)
        assert self.calibrator is not None, "fit_risk returns calibrated candidates"
        return self.calibrator(self.raw(X))

    def calibration_method(self) -> str | None:
        """How the probabilities are calibrated ("isotonic", "sigmoid"; a blend's parts'
        joined by "+" when they differ)."""
        if self.parts:
            return "+".join(sorted({p.calibration_method() or "none" for p in self.parts}))
        return None if self.calibrator is None else self.calibrator.method

    def rounds(self) -> int | None:
        """Trees of the LightGBM candidates (None for the baselines)."""
        if self.hazard is not None:
            return self.hazard.booster.num_trees()
        return None if self.booster is None else self.booster.num_trees()


@dataclass(frozen=True)
class DaysFit:
    """A fitted days-late candidate: mean and p10/p50/p90."""

    name: str
    boosters: dict[str, lgb.Booster] | None = None
    offset: HistoryOffset | None = None
    pipeline: Pipeline | None = None
    history: HistoryBaseline | None = None
    # Baselines: quantiles of the validation residuals added to the mean.
    residual_quantiles: dict[str, float] | None = None
    hazard: HazardModel | None = None
    interval: IntervalAdjustment | None = None  # the hazard model's p10-p90 recalibration
    parts: tuple[DaysFit, ...] = ()  # the blend's parts

    def mean(self, X: np.ndarray) -> np.ndarray:
        """The mean days late."""
        if self.parts:
            return np.mean([p.mean(X) for p in self.parts], axis=0)
        if self.hazard is not None:
            return self.predict(X)["mean"]
        if self.boosters is not None:
            return self._booster("mean", X)
        if self.pipeline is not None:
            return np.asarray(self.pipeline.predict(X), dtype="float64")
        assert self.history is not None
        return self.history.days_late(X)

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """mean, p10, p50, p90 (quantiles sorted per row)."""
        if self.parts:
            return blend_days([p.predict(X) for p in self.parts])
        if self.hazard is not None:
            days = hazard_answers(self.hazard, X)[0]
            if self.interval is not None:
                days["p10"], days["p50"], days["p90"] = self.interval.apply(
                    days["p10"], days["p50"], days["p90"], cap=float(self.hazard.horizon_days)
                )
            return days
        mean = self.mean(X)
        if self.boosters is not None:
            q = [self._booster(k, X) for k in QUANTILES]
        else:
            assert self.residual_quantiles is not None
            q = [mean + self.residual_quantiles[k] for k in QUANTILES]
        p10, p50, p90 = np.sort(np.vstack(q), axis=0)
        return {"mean": mean, "p10": p10, "p50": p50, "p90": p90}

    def _booster(self, key: str, X: np.ndarray) -> np.ndarray:
        assert self.boosters is not None
        out = np.asarray(self.boosters[key].predict(X), dtype="float64")
        return out if self.offset is None else out + self.offset.values(X)

    def rounds(self) -> dict[str, int] | None:
        """Trees per model of the LightGBM candidates (None for the baselines)."""
        if self.hazard is not None:
            return {"hazard": self.hazard.booster.num_trees()}
        if self.boosters is None:
            return None
        return {k: m.num_trees() for k, m in self.boosters.items()}


def _start(
    name: str, rows: Rows, y: np.ndarray, *, kind: str
) -> tuple[HistoryOffset | None, Offsets | None]:
    """The history start score of `lightgbm_residual` and its values on the rows (else None)."""
    if name != "lightgbm_residual":
        return None, None
    offset = fit_history_offset(rows.X_tr, y, feature_names=rows.names, kind=kind)
    return offset, Offsets(offset.values(rows.X_tr), offset.values(rows.X_va))


def fit_risk(
    name: str,
    rows: Rows,
    *,
    config: TrainConfig,
    isotonic_min_defaults: int,
    overrides: dict[str, Any] | None = None,
    calibration: tuple[np.ndarray, np.ndarray] | None = None,
) -> RiskFit:
    """Fit risk candidate `name` and its calibrator.

    The calibrator is fitted on the validation rows' raw scores, or on `calibration`
    (raw scores, labels) when given: the refit on all history calibrates on the
    windows' out-of-time scores.
    """
    r = rows
    if name in ("lightgbm", "lightgbm_residual"):
        offset, offsets = _start(name, r, r.y_tr, kind="logit")
        booster = fit_default_model(
            r.X_tr,
            r.y_tr,
            r.X_va,
            r.y_va,
            feature_names=r.names,
            config=config,
            overrides=overrides,
            offsets=offsets,
        )
        fit = RiskFit(name, booster=booster, offset=offset)
    elif name == "logistic":
        pipeline = fit_logistic(r.X_tr, r.y_tr, feature_names=r.names, seed=config.seed)
        fit = RiskFit(name, pipeline=pipeline)
    elif name == "history":
        history = fit_history_baseline(r.X_tr, r.d_tr, feature_names=r.names)
        fit = RiskFit(name, history=history)
    else:
        raise ValueError(f"unknown risk candidate {name!r}: expected one of {RISK_CANDIDATES}")
    raw, y = calibration if calibration is not None else (fit.raw(r.X_va), r.y_va)
    calibrator = fit_calibrator(raw, y, isotonic_min_defaults=isotonic_min_defaults)
    return dataclasses.replace(fit, calibrator=calibrator)


def fit_days(
    name: str,
    rows: Rows,
    *,
    config: TrainConfig,
    overrides: dict[str, Any] | None = None,
    residuals: np.ndarray | None = None,
) -> DaysFit:
    """Fit days-late candidate `name`.

    The baselines' quantile band comes from the validation residuals, or from
    `residuals` (out-of-time residuals of the windows) when given.
    """
    r = rows
    if name in ("lightgbm", "lightgbm_residual"):
        offset, offsets = _start(name, r, r.d_tr, kind="days")
        boosters = fit_days_late_models(
            r.X_tr,
            r.d_tr,
            r.X_va,
            r.d_va,
            feature_names=r.names,
            config=config,
            overrides=overrides,
            offsets=offsets,
        )
        return DaysFit(name, boosters=boosters, offset=offset)
    if name == "linear":
        fit = DaysFit(name, pipeline=fit_linear(r.X_tr, r.d_tr, feature_names=r.names))
    elif name == "history":
        fit = DaysFit(name, history=fit_history_baseline(r.X_tr, r.d_tr, feature_names=r.names))
    else:
        raise ValueError(f"unknown days-late candidate {name!r}: expected one of {DAYS_CANDIDATES}")
    if residuals is None:
        residuals = r.d_va - fit.mean(r.X_va)
    bands = {k: float(np.quantile(residuals, q)) for k, q in QUANTILES.items()}
    return DaysFit(name, pipeline=fit.pipeline, history=fit.history, residual_quantiles=bands)


def blend_days(each: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The average of several days-late forecasts, quantiles kept in order."""
    out = {k: np.mean([e[k] for e in each], axis=0) for k in ("mean", "p10", "p50", "p90")}
    out["p10"], out["p50"], out["p90"] = np.sort(
        np.vstack([out["p10"], out["p50"], out["p90"]]), axis=0
    )
    return out


def widen(fit: DaysFit, low: float, high: float) -> DaysFit:
    """The candidate with p10 lowered by `low` days and p90 raised by `high` (either may be
    negative): the interval recalibration of `training.intervals`, folded into the models
    so that serving needs nothing new."""
    if fit.parts:
        # Shifting every part's p10 by the same days shifts their average by as much.
        return dataclasses.replace(fit, parts=tuple(widen(p, low, high) for p in fit.parts))
    if fit.hazard is not None:
        return dataclasses.replace(fit, interval=IntervalAdjustment(low, high))
    if fit.boosters is not None:
        boosters = dict(fit.boosters)
        boosters["p10"] = offset_trees(
            lgb.Booster(model_str=boosters["p10"].model_to_string()), -low
        )
        boosters["p90"] = offset_trees(
            lgb.Booster(model_str=boosters["p90"].model_to_string()), high
        )
        return dataclasses.replace(fit, boosters=boosters)
    assert fit.residual_quantiles is not None
    bands = dict(fit.residual_quantiles)
    bands["p10"] -= low
    bands["p90"] += high
    return dataclasses.replace(fit, residual_quantiles=bands)


_EPS = 1e-6


def hazard_answers(model: HazardModel, X: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(days late mean/p10/p50/p90, log-odds of P(default)) of each row, given it is still
    unpaid at its snapshot: both questions from one pass over the expanded rows."""
    dist = model.predict(X, days_overdue=model.unpaid_since(X))
    days = {k: np.asarray(dist[k], dtype="float64") for k in ("mean", "p10", "p50", "p90")}
    return days, logit(np.clip(dist["p_default"], _EPS, 1 - _EPS))


@dataclass(frozen=True)
class Observed:
    """Issue-date rows for the hazard model: (stop, settled) as known at a cut-off."""

    X_tr: np.ndarray
    stop_tr: np.ndarray
    settled_tr: np.ndarray
    X_va: np.ndarray
    stop_va: np.ndarray
    settled_va: np.ndarray
    names: list[str]


def fit_hazard_model(
    obs: Observed, *, config: TrainConfig, horizon_days: int, max_rows: int
) -> HazardModel:
    """The discrete-time hazard candidate (`training.hazard`), early-stopped on validation
    rows, or with `config.rounds["hazard"]` trees and no validation (the refit)."""
    categorical = categorical_indices(obs.names)
    rounds = None if config.rounds is None else config.rounds.get("hazard")
    return fit_hazard(
        obs.X_tr,
        obs.stop_tr,
        obs.settled_tr,
        obs.X_va,
        obs.stop_va,
        obs.settled_va,
        feature_names=obs.names,
        categorical=categorical,
        horizon_days=horizon_days,
        params=lgb_params("binary", config),
        num_boost_round=rounds or config.max_rounds,
        early_stopping_rounds=0 if rounds else config.early_stopping,
        seed=config.seed,
        max_rows=max_rows,
    )
