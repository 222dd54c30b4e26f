"""The evaluation of one training run: the test rows, their metric blocks, and the result.

`test_set` and the `*_block` functions measure scores on a run's test rows (the
backtest, and promotion re-scoring two bundles on the same rows).

`run_backtest` produces an `Evaluation`; the registry logs `to_json()` as the run's
`evaluation.json` and flattens it into MLflow metrics; `duecast evaluate` reads it back
with `from_json` and prints it (`--json` prints `to_json()`, key for key and in order);
the bundle keeps `to_json()` as its `metrics`, which the API shows. Its JSON:

    as_of                       the cut date of the training table
    default, days_late          per target: {"model": metrics, "baselines": {name: metrics}}
                                (`default` is null when the data could not train it)
    default_unavailable_reason  why there is no default model (null when there is one)
    test_period, valid_period, train_period   [start, end) issue dates
    rows                        row and default counts per fold
    calibration                 "isotonic", "sigmoid" or null
    warnings                    what the data check found
    model_version, run_id       once the run is registered
    alias, plots                added by `duecast evaluate`

Metric maps are those of `training.metrics` (`roc_auc`, `mae`, ..., `n`, and
`cold_start`, the same map on customers without payment history).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict, Unpack

import numpy as np
import pandas as pd

from kernel.errors import ModelNotFoundError
from training.bundle import Bundle, Scores
from training.dataset import issue_rows
from training.metrics import days_late_metrics, default_metrics

__all__ = [
    "TARGETS",
    "Evaluation",
    "Metrics",
    "TargetEvaluation",
    "TestSet",
    "days_late_block",
    "default_block",
    "model_blocks",
    "score_on_test",
    "test_set",
]

# One metric map of `training.metrics`: name -> value, `cold_start` -> the same map.
Metrics = dict[str, Any]

TARGETS = ("default", "very_late", "days_late")

# The keys `Evaluation` knows, in the order the JSON has always had them; any other key
# (from an older or newer duecast) is kept as it is and written back after `warnings`.
_KNOWN = (
    "as_of",
    "default",
    "default_unavailable_reason",
    "days_late",
    "test_period",
    "valid_period",
    "train_period",
    "rows",
    "calibration",
    "warnings",
    "model_version",
    "run_id",
    "alias",
    "plots",
)
_LABELS = ("model_version", "run_id", "alias", "plots")  # written only when set


class _Labels(TypedDict, total=False):
    """The labels `Evaluation.labelled` may set (the names in `_LABELS`)."""

    model_version: str
    run_id: str
    alias: str
    plots: str


@dataclass(frozen=True)
class TestSet:
    """The rows metrics are computed on: test period, one row per invoice (issue date)."""

    X: np.ndarray
    default: np.ndarray
    days_late: np.ndarray
    amount: np.ndarray
    cold_start: np.ndarray

    @classmethod
    def pooled(cls, sets: Sequence[TestSet]) -> TestSet:
        """The rows of several test sets, one after the other."""
        return cls(*(np.concatenate([getattr(s, f) for s in sets]) for f in _TEST_FIELDS))


_TEST_FIELDS = ("X", "default", "days_late", "amount", "cold_start")


def test_set(
    table: pd.DataFrame,
    X: np.ndarray,
    mask: np.ndarray,
    *,
    target: str = "default",
    issue_only: bool = True,
) -> TestSet:
    """Rows of `mask` to measure on: issue-date rows only unless `issue_only` is False.

    `target` names the risk label column ("default" or "very_late"); `TestSet.default`
    holds it.
    """
    if issue_only:
        mask = mask & issue_rows(table)
    cold = table["customer_no_payment_history"].to_numpy()[mask] == 1
    return TestSet(
        X=X[mask],
        default=table[target].to_numpy(dtype="int64")[mask],
        days_late=table["days_late"].to_numpy(dtype="float64")[mask],
        amount=table["amount"].to_numpy(dtype="float64")[mask],
        cold_start=cold,
    )


def default_block(test: TestSet, p: np.ndarray) -> Metrics:
    """Default metrics of scores `p` on the test rows, and on the cold-start ones."""
    out = default_metrics(test.default, p, test.amount)
    c = test.cold_start
    out["cold_start"] = default_metrics(test.default[c], p[c], test.amount[c])
    return out


def days_late_block(
    test: TestSet,
    pred: np.ndarray,
    *,
    median: np.ndarray | None = None,
    p10: np.ndarray | None = None,
    p90: np.ndarray | None = None,
) -> Metrics:
    """Days-late metrics of a forecast on the test rows, and on the cold-start ones."""

    def sub(a: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
        return None if a is None else a[mask]

    out = days_late_metrics(test.days_late, pred, median=median, p10=p10, p90=p90)
    c = test.cold_start
    out["cold_start"] = days_late_metrics(
        test.days_late[c], pred[c], median=sub(median, c), p10=sub(p10, c), p90=sub(p90, c)
    )
    return out


def model_blocks(test: TestSet, scores: Scores) -> tuple[Metrics | None, Metrics]:
    """Default and days-late metric blocks of a model's scores on the test set."""
    default = None if np.isnan(scores.p_default).all() else default_block(test, scores.p_default)
    days = days_late_block(
        test,
        scores.days_late,
        median=scores.days_late_p50,
        p10=scores.days_late_p10,
        p90=scores.days_late_p90,
    )
    return default, days


def score_on_test(
    bundle: Bundle, table: pd.DataFrame, mask: np.ndarray
) -> tuple[Metrics | None, Metrics]:
    """Metrics of a bundle on the issue-date rows of `mask` (promotion compares these)."""
    test = test_set(table, bundle.matrix(table), mask)
    return model_blocks(test, bundle.predict(test.X))


@dataclass(frozen=True)
class TargetEvaluation:
    """The model's metrics on one target, and each baseline's on the same test rows."""

    model: Metrics
    baselines: dict[str, Metrics]

    def by_name(self) -> dict[str, Metrics]:
        """The model's and every baseline's metrics, the model first."""
        return {"model": self.model, **self.baselines}

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this target."""
        return {"model": self.model, "baselines": self.baselines}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TargetEvaluation:
        """A target's evaluation from its JSON object."""
        return cls(model=dict(data["model"]), baselines=dict(data["baselines"]))


@dataclass(frozen=True)
class Evaluation:
    """The backtest of one run (see the module docstring for the JSON it round-trips)."""

    as_of: str
    default: TargetEvaluation | None
    default_unavailable_reason: str | None
    days_late: TargetEvaluation
    test_period: tuple[str, str]
    valid_period: tuple[str, str]
    train_period: tuple[str, str]
    rows: dict[str, int]
    calibration: str | None
    warnings: tuple[str, ...]
    model_version: str | None = None
    run_id: str | None = None
    alias: str | None = None
    plots: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def target(self, name: str) -> TargetEvaluation | None:
        """The evaluation of target `name` (one of TARGETS); None if not trained.

        "very_late" is the risk target of ledgers with too few defaults.
        """
        if name not in TARGETS:
            raise ValueError(f"unknown target {name!r}: expected one of {TARGETS}")
        if name == "very_late":
            block = self.extra.get("very_late")
            return None if block is None else TargetEvaluation.from_json(block)
        return self.default if name == "default" else self.days_late

    @property
    def risk_target(self) -> str | None:
        """What the risk model predicts: "default", "very_late", or None without one."""
        if self.default is not None:
            return "default"
        return "very_late" if self.extra.get("very_late") is not None else None

    def unavailable_reason(self, name: str) -> str | None:
        """Why target `name` has no model (the days-late models are always trained)."""
        if name == "default":
            return self.default_unavailable_reason
        if name == "very_late":
            return None if self.extra.get("very_late") else "defaults are numerous enough"
        return None

    def labelled(self, **labels: Unpack[_Labels]) -> Evaluation:
        """A copy with some of `model_version`, `run_id`, `alias`, `plots` set."""
        unknown = sorted(set(labels) - set(_LABELS))
        if unknown:
            raise TypeError(f"unknown labels {unknown}: expected some of {_LABELS}")
        return replace(self, **labels)

    def without_labels(self) -> Evaluation:
        """A copy without version, run, alias and plots: what the backtest alone gives."""
        return replace(self, model_version=None, run_id=None, alias=None, plots=None)

    def to_json(self) -> dict[str, Any]:
        """The JSON object `duecast evaluate --json` prints and `evaluation.json` holds."""
        out: dict[str, Any] = {
            "as_of": self.as_of,
            "default": None if self.default is None else self.default.to_json(),
            "default_unavailable_reason": self.default_unavailable_reason,
            "days_late": self.days_late.to_json(),
            "test_period": list(self.test_period),
            "valid_period": list(self.valid_period),
            "train_period": list(self.train_period),
            "rows": dict(self.rows),
            "calibration": self.calibration,
            "warnings": list(self.warnings),
            **self.extra,
        }
        for key in _LABELS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        """An evaluation from its JSON object (also those of runs logged by older versions).

        Raises:
            ModelNotFoundError: the object lacks what every run has logged (the
                days-late block, the periods): the run's evaluation is not usable.
        """
        try:
            default = data.get("default")
            return cls(
                as_of=str(data["as_of"]),
                default=None if default is None else TargetEvaluation.from_json(default),
                default_unavailable_reason=data.get("default_unavailable_reason"),
                days_late=TargetEvaluation.from_json(data["days_late"]),
                test_period=_period(data["test_period"]),
                valid_period=_period(data["valid_period"]),
                train_period=_period(data["train_period"]),
                rows=dict(data.get("rows") or {}),
                calibration=data.get("calibration"),
                warnings=tuple(data.get("warnings") or ()),
                **{key: data[key] for key in _LABELS if data.get(key) is not None},
                extra={k: v for k, v in data.items() if k not in _KNOWN},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelNotFoundError(
                f"the evaluation object is incomplete or malformed ({type(exc).__name__}: "
                f"{exc}): retrain with `duecast train`"
            ) from exc


def _period(value: Any) -> tuple[str, str]:
    start, end = value
    return str(start), str(end)
