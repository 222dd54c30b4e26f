"""A censoring-aware payment-time model: a discrete-time hazard over weekly intervals.

Invoices still open at the cut-off are right-censored. A classifier or regressor of the
outcome can only learn from invoices whose window (due + H) is complete, which drops the
latest months; counting open invoices as non-defaults makes recent defaults vanish. The
hazard model learns from every invoice: one LightGBM binary model of "settles in week k,
given not settled before", fitted on one row per (invoice, week observed at risk)
(`training.hazard_data`), so an open invoice contributes the weeks it was seen unpaid.

From the K hazards h_k of an invoice: P(default) = P(not settled by due + H) =
prod(1 - h_k), and the whole payment-date distribution, hence the mean and p10/p50/p90
of days late, and the same answers for an open invoice given that it is unpaid today.

Choices, and why:
- The interval is one numeric feature: trees share the baseline hazard across
  neighbouring weeks and let it interact with the invoice's features.
- Early stopping on the validation invoices' expansion (binary log loss: the likelihood
  of the hazard model); only the best iteration's trees are kept, as `training.models`.
- No class weighting: the hazards must be probabilities, their product is P(default).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from kernel.errors import InsufficientDataError
from training.hazard_data import (
    INTERVAL_COLUMN,
    expand,
    hazard_edges,
    normalise_observations,
    observations,
    payment_distribution,
)
from training.hazard_row import row_distribution
from training.models import monotone_params
from training.row_predict import RowPredictor

__all__ = ["HazardModel", "fit_hazard", "observations"]

logger = logging.getLogger(__name__)

_KIND = "discrete_time_hazard"
# Invoices per prediction chunk: bounds the K-fold expanded matrix in memory.
_CHUNK_INVOICES = 16_384


@dataclass
class HazardModel:
    """A fitted hazard booster with its bin edges (days relative to due; K + 1 values)."""

    booster: lgb.Booster
    edges: np.ndarray
    horizon_days: int
    feature_names: list[str]
    _row_predictor: RowPredictor | None = field(default=None, init=False, repr=False, compare=False)
    # Each thread's last one-row answer: (row bytes, days_overdue, quantiles), answer.
    _last_row: threading.local | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def _bins(self) -> range:
        """The interval column's values, one per bin."""
        return range(self.num_bins)

    @property
    def _edges(self) -> list[float]:
        return [float(e) for e in self.edges]

    @property
    def num_bins(self) -> int:
        """K, the number of intervals."""
        return len(self.edges) - 1

    def unpaid_since(self, X: np.ndarray) -> np.ndarray | None:
        """Days since the due date at each row's snapshot (age - terms; negative before due).

        Serving and the backtest condition the answers on this: a row is an invoice
        still unpaid at its snapshot. At issue (age 0) that is no condition at all.
        None when the model lacks the two columns.
        """
        names = self.feature_names
        if "invoice_age_days" not in names or "invoice_terms_days" not in names:
            return None
        age = np.asarray(X[:, names.index("invoice_age_days")], dtype="float64")
        terms = np.asarray(X[:, names.index("invoice_terms_days")], dtype="float64")
        return np.nan_to_num(age, nan=0.0) - np.nan_to_num(terms, nan=0.0)

    def _rows(self, X: np.ndarray) -> np.ndarray:
        """Each row of X repeated for every bin, with the bin index appended (float64)."""
        k = self.num_bins
        rows = np.empty((X.shape[0] * k, X.shape[1] + 1), dtype="float64")
        rows[:, :-1] = np.repeat(X, k, axis=0)
        rows[:, -1] = np.tile(np.arange(k, dtype="float64"), X.shape[0])
        return rows

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype="float64")
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(
                f"expected a 2-d matrix with {len(self.feature_names)} feature columns, "
                f"got shape {X.shape}"
            )
        return X

    def hazards(self, X: np.ndarray) -> np.ndarray:
        """P(settled in bin k | not settled before), shape (n, K)."""
        X = self._check(X)
        k = self.num_bins
        out = np.empty((X.shape[0], k), dtype="float64")
        for start in range(0, X.shape[0], _CHUNK_INVOICES):
            part = X[start : start + _CHUNK_INVOICES]
            out[start : start + len(part)] = np.asarray(
                self.booster.predict(self._rows(part))
            ).reshape(-1, k)
        return out

    def predict(
        self, X: np.ndarray, days_overdue: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """p_default, mean, p10, p50, p90 in one pass over the expanded rows."""
        return payment_distribution(self.hazards(X), self.edges, days_overdue)

    def p_default(self, X: np.ndarray, days_overdue: np.ndarray | None = None) -> np.ndarray:
        """P(not settled by due + H); given unpaid at `days_overdue` when that is passed."""
        return self.predict(X, days_overdue)["p_default"]

    def days_late(
        self, X: np.ndarray, days_overdue: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Mean and p10/p50/p90 of days late (capped at H).

        `days_overdue` (per row, days since due at the start of today, may be negative)
        conditions on no settlement before today: every answer is then >= days_overdue.
        """
        dist = self.predict(X, days_overdue)
        return {key: dist[key] for key in ("mean", "p10", "p50", "p90")}

    def predict_row(
        self, x: np.ndarray, days_overdue: float | None = None, *, quantiles: bool = True
    ) -> dict[str, float]:
        """p_default, mean (and p10, p50, p90 with `quantiles`) of one (1, f) row, through
        the fast one-row API and the one-row distribution (`training.hazard_row`)."""
        x = self._check(np.asarray(x, dtype="float64").reshape(1, -1))
        if self._row_predictor is None:
            self._row_predictor = RowPredictor(self.booster)
            self._last_row = threading.local()
        # An order's risk and its days late ask the same question in a row: answered once.
        key = (x.tobytes(), days_overdue, quantiles)
        last = getattr(self._last_row, "answer", None)
        if last is not None and last[0] == key:
            return dict(last[1])
        row = np.empty(x.shape[1] + 1, dtype="float64")
        row[:-1] = x[0]
        hazards = self._row_predictor.sweep(row, x.shape[1], self._bins)
        answer = row_distribution(hazards, self._edges, days_overdue, quantiles=quantiles)
        self._last_row.answer = (key, answer)  # type: ignore[union-attr]  # set above
        return dict(answer)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature SHAP values of the hazard's log-odds, averaged over the K bins (n, f).

        Positive = raises the hazard of paying = pays sooner = LOWER risk (the opposite
        sign of a default classifier's contributions). The interval column and the bias
        are left out. Averaged rather than summed so that the scale is that of one
        binary model's log-odds and does not grow with the number of bins a ledger gets.
        """
        X = self._check(X)
        k, f = self.num_bins, X.shape[1]
        out = np.empty((X.shape[0], f), dtype="float64")
        for start in range(0, X.shape[0], _CHUNK_INVOICES):
            part = X[start : start + _CHUNK_INVOICES]
            contrib = np.asarray(self.booster.predict(self._rows(part), pred_contrib=True))
            out[start : start + len(part)] = contrib.reshape(len(part), k, f + 2)[:, :, :f].mean(
                axis=1
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: LightGBM model text, edges, horizon and feature names."""
        return {
            "kind": _KIND,
            "model": self.booster.model_to_string(),
            "edges": [float(e) for e in self.edges],
            "horizon_days": int(self.horizon_days),
            "feature_names": list(self.feature_names),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HazardModel:
        """The model `to_dict` wrote."""
        if d.get("kind") != _KIND:
            raise ValueError(f"not a hazard model (kind {d.get('kind')!r}, expected {_KIND!r})")
        return cls(
            booster=lgb.Booster(model_str=d["model"]),
            edges=np.asarray(d["edges"], dtype="float64"),
            horizon_days=int(d["horizon_days"]),
            feature_names=list(d["feature_names"]),
        )


def fit_hazard(
    X_tr: np.ndarray,
    stop_tr: np.ndarray,
    settled_tr: np.ndarray,
    X_va: np.ndarray,
    stop_va: np.ndarray,
    settled_va: np.ndarray,
    *,
    feature_names: Sequence[str],
    categorical: Sequence[int],
    horizon_days: int,
    params: Mapping[str, object],
    num_boost_round: int,
    early_stopping_rounds: int,
    seed: int,
    max_rows: int | None = None,
) -> HazardModel:
    """Fit the hazard model on invoices observed up to a cut-off, early-stopped on X_va.

    Per invoice: `stop` = settlement day relative to due when `settled`, else the last
    day observed ((cut-off - 1 day) - due, capped at H); a default known at the cut-off
    is settled=False, stop=H. `max_rows` caps each expansion by sampling whole invoices.
    With `early_stopping_rounds` <= 0 exactly `num_boost_round` trees are fitted and the
    validation arrays are not read (the refit on all history).

    Raises:
        InsufficientDataError: no settled training invoice, or an empty expansion.
    """
    stop_tr, settled_tr = normalise_observations(stop_tr, settled_tr, horizon_days)
    stop_va, settled_va = normalise_observations(stop_va, settled_va, horizon_days)
    if not settled_tr.any():
        raise InsufficientDataError(
            "the hazard model needs settled invoices to learn payment timing; "
            f"none of the {len(stop_tr)} training invoices is settled within {horizon_days} days"
        )
    edges = hazard_edges(stop_tr, settled_tr, horizon_days)
    X_exp, y_exp, _ = expand(X_tr, stop_tr, settled_tr, edges, max_rows=max_rows, seed=seed)
    fixed = early_stopping_rounds <= 0  # the refit: fixed rounds, nothing validated
    if fixed:
        X_va, stop_va, settled_va = X_tr[:1], stop_tr[:1], settled_tr[:1]
    Xv_exp, yv_exp, _ = expand(X_va, stop_va, settled_va, edges, max_rows=max_rows, seed=seed)
    if len(y_exp) == 0 or (len(yv_exp) == 0 and not fixed):
        raise InsufficientDataError(
            f"the hazard expansion is empty (training {len(y_exp)} rows, validation "
            f"{len(yv_exp)} rows): both periods need invoices observed past their due date "
            f"minus {-edges[1]:.0f} days"
        )
    booster = _train(
        X_exp,
        y_exp,
        Xv_exp,
        yv_exp,
        names=[*feature_names, INTERVAL_COLUMN],
        categorical=categorical,
        params=params,
        seed=seed,
        rounds=num_boost_round,
        patience=None if fixed else early_stopping_rounds,
    )
    best = booster.best_iteration or booster.current_iteration()
    logger.info(
        "hazard model: %d bins, %d training rows (%d events), %d trees (early stopping)",
        len(edges) - 1,
        len(y_exp),
        int(y_exp.sum()),
        best,
    )
    return HazardModel(
        booster=lgb.Booster(model_str=booster.model_to_string(num_iteration=best)),
        edges=edges,
        horizon_days=int(horizon_days),
        feature_names=list(feature_names),
    )


def _train(
    X: np.ndarray,
    y: np.ndarray,
    X_va: np.ndarray,
    y_va: np.ndarray,
    *,
    names: list[str],
    categorical: Sequence[int],
    params: Mapping[str, object],
    seed: int,
    rounds: int,
    patience: int | None,
) -> lgb.Booster:
    """The binary booster of the expanded rows; early-stopped unless `patience` is None."""
    train = lgb.Dataset(
        X, y, feature_name=names, categorical_feature=list(categorical), free_raw_data=True
    )
    full = {
        "verbose": -1,
        **params,
        "objective": "binary",
        "metric": ["binary_logloss"],
        "seed": seed,
        # Reweighting events would skew the hazards, and P(default) is their product.
        "scale_pos_weight": 1.0,
        "is_unbalance": False,
        # The hazard is the chance to be paid: it falls as risk rises (sign -1), so
        # P(default) = prod(1 - h_k) rises with every directed feature.
        **monotone_params(names, sign=-1),
    }
    if patience is None:
        return lgb.train(full, train, num_boost_round=max(1, rounds))
    valid = lgb.Dataset(X_va, y_va, reference=train, free_raw_data=True)
    return lgb.train(
        full,
        train,
        num_boost_round=rounds,
        valid_sets=[valid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(patience, verbose=False)],
    )
