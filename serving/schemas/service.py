"""API models of the service itself: the model served, health and readiness."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from serving.schemas.base import RiskTargetOut, _example, _risk_target, _very_late_days

__all__ = ["HealthOut", "ModelOut", "ReadyOut"]


class ModelOut(BaseModel):
    """The model being served."""

    model_config = _example(
        {
            "model_version": "3",
            "trained_at": "2026-03-01T22:10:00+00:00",
            "as_of": "2026-03-01",
            "feature_set_version": "2",
            "horizon_days": 90,
            "default_model": True,
            "default_unavailable_reason": None,
            "risk_target": "default",
            "very_late_days": None,
            "served": {"risk": "lightgbm", "days_late": "history"},
            "metrics": {"default": {"model": {"roc_auc": 0.81}}},
            "thresholds": {"A": 0.02, "B": 0.05, "C": 0.1, "D": 0.2},
            "serving_as_of": "2026-03-02",
            "loaded_at": "2026-03-02T07:00:00Z",
            "customers": 10000,
        }
    )
    model_version: str
    trained_at: str
    as_of: str
    feature_set_version: str
    horizon_days: int
    default_model: bool
    default_unavailable_reason: str | None
    risk_target: RiskTargetOut = _risk_target()
    very_late_days: int | None = _very_late_days()
    served: dict[str, str | None] = Field(
        default_factory=dict,
        description="The model served per question (`risk`, `days_late`): lightgbm, "
        "lightgbm_residual, hazard, or a baseline (history, logistic, linear) when the "
        "backtest found the model not clearly better; null: no risk model.",
    )
    metrics: dict
    thresholds: dict[str, float]
    serving_as_of: dt.date
    loaded_at: dt.datetime
    customers: int


class HealthOut(BaseModel):
    """Liveness."""

    model_config = _example({"status": "ok"})
    status: str


class ReadyOut(BaseModel):
    """Readiness: a model is loaded and the database answers.

    "degraded" (still 200): serving, but some customers answer 503 (their stored rows
    cannot be read); `customers_not_served` counts them, the log names them.
    """

    model_config = _example({"status": "ready", "model_version": "3", "database": "ok"})
    status: Literal["ready", "degraded", "not ready"]
    model_version: str | None
    database: str
    detail: str | None = None
    customers_not_served: int = 0
    last_reload_error: str | None = Field(
        default=None, description="Why the last reload failed (the old model kept serving)."
    )
