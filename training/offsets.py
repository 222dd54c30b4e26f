"""The shrunk customer-history mean, used as the start score of a boosted model.

A booster that starts from a constant must spend its first trees rediscovering that
most of the variance of days late sits with the customer. Starting instead from the
customer's own history mean, pulled toward the training prior by how little history
there is, leaves the trees only the residual to learn: on small ledgers that is what
the history baseline already gets right, and the model can only add to it.

    shrunk = (n * mean + k * prior) / (n + k)      n = history_settled_count

- "days": the start score of a days-late model is `shrunk` itself (days; the history
  mean is capped by the feature, the labels by the horizon).
- "logit": the start score of a risk model is the log-odds of the shrunk default rate
  (`history_default_share`), clipped away from 0 and 1 so that a customer with no
  default and a ledger without defaults still get a finite score.
  `history_default_share` counts concluded invoices (settled + defaulted) while n is
  the settled count only, so n slightly understates the evidence for customers with
  defaults; the fitted k absorbs most of the difference.

Choosing k. An empirical Bayes moment estimate (within- over between-customer
variance) needs customer ids, which the model matrix does not carry. Instead k is the
value on a log grid that minimises the start score's own loss on the training rows
(squared error for days, log loss for the rate). This is honest without a held-out
set: each row's history mean is computed from invoices settled strictly before the
row's snapshot, never from the row's own outcome, so every row is a prediction of the
future from the past (a prequential estimate). With one free parameter and thousands
of rows the choice cannot overfit in any way that matters.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from features.feature import FeatureSpecError

__all__ = ["OFFSET_KINDS", "HistoryOffset", "fit_history_offset"]

OFFSET_KINDS = {"days": "history_days_late_mean", "logit": "history_default_share"}
_COUNT_COLUMN = "history_settled_count"
# Rates are kept in [eps, 1 - eps] before taking log-odds: |log-odds| <= 6.9.
_RATE_EPS = 1e-3
# k = 0 (the raw history mean) and a log grid up to "ignore the customer" (k >> n).
_STRENGTH_GRID = (0.0, *(float(2.0**e) for e in np.arange(-2.0, 10.5, 0.5)))


@dataclass(frozen=True)
class HistoryOffset:
    """Shrunk customer-history mean as a start score: days, or log-odds of a rate."""

    kind: str
    mean_column: int
    count_column: int
    prior: float
    strength: float

    def __post_init__(self) -> None:
        if self.kind not in OFFSET_KINDS:
            raise ValueError(
                f"offset kind must be one of {sorted(OFFSET_KINDS)}, not {self.kind!r}"
            )
        if not self.strength >= 0.0:
            raise ValueError(f"shrinkage strength must be >= 0, not {self.strength}")

    def values(self, X: np.ndarray) -> np.ndarray:
        """Start scores of the rows of `X`: days, or log-odds for "logit"."""
        mean = np.asarray(X[:, self.mean_column], dtype="float64")
        count = np.asarray(X[:, self.count_column], dtype="float64")
        return _score(self.kind, mean, count, self.prior, self.strength)

    def value_row(self, x: np.ndarray) -> float:
        """Start score of one row (`x` of shape (1, f)), in plain floats for serving."""
        mean = float(x[0, self.mean_column])
        count = float(x[0, self.count_column])
        if math.isnan(mean) or math.isnan(count) or count <= 0.0:
            shrunk = self.prior
        else:
            total = count + self.strength
            shrunk = (count * mean + self.strength * self.prior) / total if total else mean
        if self.kind == "days":
            return shrunk
        rate = min(max(shrunk, _RATE_EPS), 1.0 - _RATE_EPS)
        return math.log(rate / (1.0 - rate))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, for the bundle."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HistoryOffset:
        """The offset saved by `to_dict`."""
        return cls(
            kind=str(d["kind"]),
            mean_column=int(d["mean_column"]),
            count_column=int(d["count_column"]),
            prior=float(d["prior"]),
            strength=float(d["strength"]),
        )


def _shrunk(mean: np.ndarray, count: np.ndarray, prior: float, strength: float) -> np.ndarray:
    known = ~np.isnan(mean) & ~np.isnan(count) & (count > 0)
    n = np.where(known, count, 0.0)
    m = np.where(known, mean, 0.0)
    total = n + strength
    with np.errstate(invalid="ignore", divide="ignore"):
        shrunk = (n * m + strength * prior) / total
    return np.where(known, shrunk, prior)


def _score(
    kind: str, mean: np.ndarray, count: np.ndarray, prior: float, strength: float
) -> np.ndarray:
    shrunk = _shrunk(mean, count, prior, strength)
    if kind == "days":
        return shrunk
    rate = np.clip(shrunk, _RATE_EPS, 1.0 - _RATE_EPS)
    return np.log(rate / (1.0 - rate))


def _loss(kind: str, score: np.ndarray, y: np.ndarray) -> float:
    if kind == "days":
        return float(np.mean((score - y) ** 2))
    # Log loss from log-odds, written stably: log(1 + exp(s)) - y * s.
    return float(np.mean(np.logaddexp(0.0, score) - y * score))


def fit_history_offset(
    X: np.ndarray,
    y: np.ndarray,
    *,
    feature_names: list[str],
    kind: str,
    strength: float | None = None,
) -> HistoryOffset:
    """Offset whose prior is the training mean of `y` and k the loss-minimising strength.

    `y` is days late for "days" and 0/1 for "logit". A given `strength` is used as is.

    Raises:
        FeatureSpecError: if the history columns are not among `feature_names`.
        ValueError: if `kind` is unknown or there are no training rows.
    """
    if kind not in OFFSET_KINDS:
        raise ValueError(f"offset kind must be one of {sorted(OFFSET_KINDS)}, not {kind!r}")
    missing = [c for c in (OFFSET_KINDS[kind], _COUNT_COLUMN) if c not in feature_names]
    if missing:
        raise FeatureSpecError(
            f"a history offset needs the feature columns {missing}; "
            "train with the customer-history features included"
        )
    y = np.asarray(y, dtype="float64")
    if len(y) == 0:
        raise ValueError("cannot fit a history offset on zero training rows")
    mean_column = feature_names.index(OFFSET_KINDS[kind])
    count_column = feature_names.index(_COUNT_COLUMN)
    prior = float(np.mean(y))
    if strength is None:
        mean = np.asarray(X[:, mean_column], dtype="float64")
        count = np.asarray(X[:, count_column], dtype="float64")
        losses = [_loss(kind, _score(kind, mean, count, prior, k), y) for k in _STRENGTH_GRID]
        # Ties (e.g. no training row with history) go to the largest k, the prior.
        last_best = int(np.argmin(losses[::-1]))
        strength = _STRENGTH_GRID[len(losses) - 1 - last_best]
    return HistoryOffset(
        kind=kind,
        mean_column=mean_column,
        count_column=count_column,
        prior=prior,
        strength=float(strength),
    )
