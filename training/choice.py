"""Which candidate to serve per question, from the pooled rolling-origin test windows.

The rule, per question (risk: ROC AUC; days late: MAE, the headline metrics):

1. "The model" is the best model candidate (LightGBM, LightGBM on the history residual,
   the hazard model) on the pooled test windows.
2. It is served only when it beats **every** baseline with a paired bootstrap interval
   of the difference that excludes zero (resampled by customer: one customer's invoices
   move together, so rows are not independent).
3. Otherwise the best baseline is served, and the report says so in one line: a model
   that cannot show it is better than a simpler rule on the company's own history is
   not worth its opacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.bootstrap import Interval, paired_interval
from training.candidates import MODEL_CANDIDATES

__all__ = ["HEADLINE", "Choice", "choose"]

# Headline metric per question, and whether higher is better.
HEADLINE = {"risk": ("roc_auc", True), "days_late": ("mae", False)}


@dataclass(frozen=True)
class Choice:
    """The model, the candidate served, the intervals behind the choice, and why."""

    question: str
    model: str
    served: str
    reason: str
    intervals: dict[str, Interval] = field(default_factory=dict)  # baseline -> model - baseline

    def to_json(self) -> dict[str, Any]:
        """JSON-able form for the evaluation object."""
        return {
            "model": self.model,
            "served": self.served,
            "reason": self.reason,
            "metric": HEADLINE[self.question][0],
            "intervals": {k: v.to_dict() for k, v in self.intervals.items()},
        }


def _prediction(question: str, preds: dict[str, np.ndarray]) -> np.ndarray:
    return preds["p"] if question == "risk" else preds["mean"]


def choose(
    question: str,
    pooled: dict[str, dict[str, float | None]],
    *,
    y: np.ndarray,
    predictions: dict[str, dict[str, np.ndarray]],
    clusters: np.ndarray,
    resamples: int,
    seed: int,
) -> Choice:
    """Pick the candidate to serve for `question` from pooled metrics and predictions.

    Args:
        question: "risk" or "days_late".
        pooled: candidate -> pooled headline metrics (None when undefined).
        y: the pooled test labels (0/1 for risk, days late).
        predictions: candidate -> {"p": ...} (risk) or {"mean": ...} (days late).
        clusters: customer id per test row (the bootstrap resamples customers).
        resamples, seed: of the bootstrap.
    """
    metric, higher = HEADLINE[question]

    def value(name: str) -> float:
        v = pooled[name].get(metric)
        if v is None or not np.isfinite(v):
            return -np.inf if higher else np.inf
        return float(v)

    ordered = sorted(pooled, key=value, reverse=higher)
    models = [c for c in ordered if c in MODEL_CANDIDATES]
    baselines = [c for c in ordered if c not in MODEL_CANDIDATES]
    if not models:
        return Choice(question, "", baselines[0], "no model candidate could be fitted")
    model = models[0]
    intervals = {
        b: paired_interval(
            metric,
            y,
            _prediction(question, predictions[model]),
            _prediction(question, predictions[b]),
            clusters=clusters,
            resamples=resamples,
            seed=seed,
            higher_is_better=higher,
        )
        for b in baselines
    }
    beaten = [b for b, iv in intervals.items() if iv.winner == "a"]
    if len(beaten) == len(baselines):
        reason = f"{model} beats every baseline on {metric} with intervals that exclude zero"
        return Choice(question, model, model, reason, intervals)
    best = baselines[0]
    ahead = value(model) > value(best) if higher else value(model) < value(best)
    if ahead:
        unbeaten = ", ".join(b for b in baselines if b not in beaten)
        reason = (
            f"{model} is ahead on {metric} but not clearly better than {unbeaten} (the "
            f"interval spans zero): the simpler {best} is served"
        )
    else:
        reason = f"{best} is at least as good as {model} on {metric}: the baseline is served"
    return Choice(question, model, best, reason, intervals)
