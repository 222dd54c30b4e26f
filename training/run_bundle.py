"""The serving bundle of a training run, made from its backtest.

The registry logs the bundle with the run, but its version is only known once MLflow
has registered the model: the pipeline drafts the bundle (`draft_bundle`: no version,
no metrics yet), the registry releases it with the registered evaluation
(`release_bundle`).

The backtest's served fits (`training.candidates.RiskFit` / `DaysFit`, or a hazard
model) become scorers here (`risk_scorer`, `timing_scorer`), read by attribute so that
this module needs none of the fitting code: LightGBM boosters (with their history
offset), the baselines' scikit-learn pipelines as arrays, or the history baseline.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from features.spec import FEATURE_SET_VERSION
from kernel.config import Settings
from training.backtest import BacktestResult
from training.bundle import Bundle
from training.evaluation import Evaluation
from training.scorers import (
    HistoryRisk,
    HistoryTiming,
    LightGBMRisk,
    LightGBMTiming,
    RiskScorer,
    TimingScorer,
)
from training.scorers_blend import BlendRisk, BlendTiming
from training.scorers_hazard import HazardRisk, HazardTiming
from training.scorers_linear import LinearModel, LinearRisk, LinearTiming

__all__ = [
    "bundle_from_scorers",
    "draft_bundle",
    "release_bundle",
    "risk_scorer",
    "timing_scorer",
]


def _is_hazard(fit: Any) -> bool:
    return hasattr(fit, "p_default") and hasattr(fit, "days_late") and hasattr(fit, "edges")


def risk_scorer(fit: Any) -> RiskScorer:
    """The scorer serving a fitted risk candidate (a `RiskFit`, or a hazard model).

    Raises:
        ValueError: the fit has no calibrator, or none of the known parts.
    """
    if isinstance(fit, RiskScorer):
        return fit
    if getattr(fit, "parts", ()):
        return BlendRisk([risk_scorer(part) for part in fit.parts])
    calibrator = getattr(fit, "calibrator", None)
    if _is_hazard(fit):
        return HazardRisk(fit)
    if getattr(fit, "hazard", None) is not None:
        return HazardRisk(fit.hazard, calibrator)
    if calibrator is None:
        raise ValueError(f"the risk candidate {getattr(fit, 'name', fit)!r} is not calibrated")
    if getattr(fit, "booster", None) is not None:
        return LightGBMRisk(fit.booster, calibrator, getattr(fit, "offset", None))
    if getattr(fit, "pipeline", None) is not None:
        return LinearRisk(LinearModel.from_pipeline(fit.pipeline), calibrator)
    if getattr(fit, "history", None) is not None:
        history = fit.history
        return HistoryRisk(history.share_late_column, history.fallback_share_late, calibrator)
    raise ValueError(f"cannot serve the risk candidate {getattr(fit, 'name', fit)!r}")


def timing_scorer(fit: Any) -> TimingScorer:
    """The scorer serving a fitted days-late candidate (a `DaysFit`, or a hazard model).

    Raises:
        ValueError: a baseline without its residual quantiles, or no known parts.
    """
    if isinstance(fit, TimingScorer):
        return fit
    if getattr(fit, "parts", ()):
        return BlendTiming([timing_scorer(part) for part in fit.parts])
    if _is_hazard(fit):
        return HazardTiming(fit)
    if getattr(fit, "hazard", None) is not None:
        return HazardTiming(fit.hazard, getattr(fit, "interval", None))
    if getattr(fit, "boosters", None) is not None:
        return LightGBMTiming(fit.boosters, getattr(fit, "offset", None))
    bands = getattr(fit, "residual_quantiles", None)
    if bands is None:
        raise ValueError(f"the days-late candidate {getattr(fit, 'name', fit)!r} has no band")
    quantiles = (bands["p10"], bands["p50"], bands["p90"])
    if getattr(fit, "pipeline", None) is not None:
        return LinearTiming(LinearModel.from_pipeline(fit.pipeline), quantiles)
    if getattr(fit, "history", None) is not None:
        history = fit.history
        return HistoryTiming(history.days_late_column, history.fallback_days_late, quantiles)
    raise ValueError(f"cannot serve the days-late candidate {getattr(fit, 'name', fit)!r}")


def draft_bundle(result: BacktestResult, *, settings: Settings, trained_at: str) -> Bundle:
    """A backtest's bundle before registration: version "" and metrics empty.

    Reads the served fits (`result.risk`, `result.days`) of the rolling-origin backtest,
    or the LightGBM models of a single-split one. The horizon and grade cut-offs are
    those of `settings`.
    """
    days = getattr(result, "days", None)
    if days is None:
        return _draft_lightgbm(result, settings=settings, trained_at=trained_at)
    fit = getattr(result, "risk", None)
    target = getattr(result, "risk_target", None) or "default"
    return bundle_from_scorers(
        None if fit is None else risk_scorer(fit),
        timing_scorer(days),
        feature_columns=result.feature_columns,
        categories=result.categories,
        settings=settings,
        as_of=result.as_of,
        trained_at=trained_at,
        risk_target=target,
        very_late_days=settings.very_late_days if target == "very_late" else None,
        default_unavailable_reason=result.check.default_unavailable_reason,
    )


def _draft_lightgbm(result: Any, *, settings: Settings, trained_at: str) -> Bundle:
    return Bundle(
        model_version="",
        trained_at=trained_at,
        as_of=result.as_of.isoformat(),
        feature_set_version=FEATURE_SET_VERSION,
        feature_columns=list(result.feature_columns),
        categories=result.categories,
        horizon_days=settings.horizon_days,
        default_model=result.default_model,
        calibrator=result.calibrator,
        default_unavailable_reason=result.check.default_unavailable_reason,
        days_late_models=result.days_late_models,
        metrics={},
        thresholds=settings.policy.grade_thresholds(),
    )


def bundle_from_scorers(
    risk: RiskScorer | None,
    timing: TimingScorer,
    *,
    feature_columns: list[str],
    categories: dict[str, list[str]],
    settings: Settings,
    as_of: datetime.date | str,
    trained_at: str,
    risk_target: str = "default",
    very_late_days: int | None = None,
    default_unavailable_reason: str | None = None,
) -> Bundle:
    """A draft bundle (version "", metrics empty) serving the scorers the backtest chose.

    `risk` is None when no risk model could be fitted; say why in
    `default_unavailable_reason`. The horizon and grade cut-offs are those of `settings`.
    """
    return Bundle(
        model_version="",
        trained_at=trained_at,
        as_of=as_of if isinstance(as_of, str) else as_of.isoformat(),
        feature_set_version=FEATURE_SET_VERSION,
        feature_columns=list(feature_columns),
        categories={k: list(v) for k, v in categories.items()},
        horizon_days=settings.horizon_days,
        default_unavailable_reason=default_unavailable_reason,
        metrics={},
        thresholds=settings.policy.grade_thresholds(),
        risk=risk,
        timing=timing,
        risk_target=risk_target,
        very_late_days=very_late_days,
    )


def release_bundle(draft: Bundle, evaluation: Evaluation) -> Bundle:
    """The drafted bundle as the registered version `evaluation.model_version`.

    Raises:
        ValueError: the evaluation has no model version yet.
    """
    if evaluation.model_version is None:
        raise ValueError("a bundle is released with the evaluation of a registered version")
    return dataclasses.replace(
        draft, model_version=evaluation.model_version, metrics=evaluation.to_json()
    )
