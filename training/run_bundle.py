"""The serving bundle of a training run, made from its backtest.

The registry logs the bundle with the run, but its version is only known once MLflow
has registered the model: the pipeline drafts the bundle (`draft_bundle`: no version,
no metrics yet), the registry releases it with the registered evaluation
(`release_bundle`).
"""

from __future__ import annotations

import dataclasses

from features.spec import FEATURE_SET_VERSION
from kernel.config import Settings
from training.backtest import BacktestResult
from training.bundle import Bundle
from training.evaluation import Evaluation

__all__ = ["draft_bundle", "release_bundle"]


def draft_bundle(result: BacktestResult, *, settings: Settings, trained_at: str) -> Bundle:
    """A backtest's bundle before registration: version "" and metrics empty.

    The horizon and grade cut-offs are those of `settings`.
    """
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
