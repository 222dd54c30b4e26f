"""The backtest's evaluation: windows pooled, every candidate measured, the choice made.

Metrics are those of `training.metrics` on issue-date rows (the question "at issue"),
over the pooled test windows; each window's figures are listed beside them, and the
"open invoice" question (snapshot rows of invoices still open 30 days or more after
issue) is reported separately. The JSON keeps the shape scripts read (`default` /
`days_late` -> `model` / `baselines` -> metrics; `very_late` instead of `default` when
defaults are too rare) and adds `windows`, `candidates`, `chosen` (with the bootstrap
intervals behind each choice), `questions` and `risk_target`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kernel.config import Settings
from kernel.errors import InsufficientDataError
from training.backtest import BacktestResult, WindowResult
from training.choice import Choice, choose
from training.evaluation import (
    Evaluation,
    Metrics,
    TargetEvaluation,
    TestSet,
    days_late_block,
    default_block,
)
from training.intervals import coverage, fit_interval_adjustment

__all__ = ["Pooled", "build_evaluation"]

_RISK_BASELINES = ("history", "logistic")
_DAYS_BASELINES = ("history", "linear")


@dataclass(frozen=True)
class Pooled:
    """The windows' test rows and predictions, one after the other."""

    test: TestSet
    customers: np.ndarray
    risk_test: TestSet | None  # rows of the windows that fitted a risk model
    risk_customers: np.ndarray | None
    risk: dict[str, np.ndarray]
    risk_raw: dict[str, np.ndarray]
    days: dict[str, dict[str, np.ndarray]]


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0)


def pool(windows: list[WindowResult]) -> Pooled:
    """Concatenate the windows' test rows and every candidate's predictions."""
    with_risk = [w for w in windows if w.risk]
    # A candidate that could not fit in some window (the hazard model without settled
    # invoices) is compared on the windows where every candidate ran: none.
    names = (
        [n for n in with_risk[0].risk if all(n in w.risk for w in with_risk)] if with_risk else []
    )
    days_names = [n for n in windows[0].days if all(n in w.days for w in windows)]
    return Pooled(
        test=TestSet.pooled([w.test for w in windows]),
        customers=_cat([w.customers for w in windows]),
        risk_test=TestSet.pooled([w.test for w in with_risk]) if with_risk else None,
        risk_customers=_cat([w.customers for w in with_risk]) if with_risk else None,
        risk={n: _cat([w.risk[n] for w in with_risk]) for n in names},
        risk_raw={n: _cat([w.risk_raw[n] for w in with_risk]) for n in names},
        days={
            n: {k: _cat([w.days[n][k] for w in windows]) for k in ("mean", "p10", "p50", "p90")}
            for n in days_names
        },
    )


def _days_block(test: TestSet, pred: dict[str, np.ndarray]) -> Metrics:
    return days_late_block(test, pred["mean"], median=pred["p50"], p10=pred["p10"], p90=pred["p90"])


def _short(metrics: Metrics, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: metrics.get(k) for k in keys}


_RISK_KEYS = ("roc_auc", "pr_auc", "brier", "ece", "n")
_DAYS_KEYS = ("mae", "interval_coverage", "n")


def _window_json(w: WindowResult) -> dict[str, Any]:
    win = w.window
    out: dict[str, Any] = {
        "index": win.index,
        "cutoff": win.cutoff,
        "train_period": list(win.train_period),
        "valid_period": list(win.valid_period),
        "test_period": list(win.test_period),
        "rows": {**win.rows(), "train_used": w.train_rows, "test_invoices": len(w.test.X)},
        "risk": {n: _short(default_block(w.test, p), _RISK_KEYS) for n, p in w.risk.items()},
        "days_late": {n: _short(_days_block(w.test, d), _DAYS_KEYS) for n, d in w.days.items()},
        "rounds": w.rounds,
    }
    if w.risk_skipped:
        out["risk_skipped"] = w.risk_skipped
    return out


def _open_question(windows: list[WindowResult]) -> dict[str, Any]:
    """Metrics of every candidate on invoices still open 30+ days after issue."""
    test = TestSet.pooled([w.open_test for w in windows])
    out: dict[str, Any] = {"rows": len(test.X), "days_late": {}, "risk": {}}
    if len(test.X) == 0:
        return out
    for name in [n for n in windows[0].open_days if all(n in w.open_days for w in windows)]:
        pred = {
            k: _cat([w.open_days[name][k] for w in windows]) for k in ("mean", "p10", "p50", "p90")
        }
        out["days_late"][name] = _short(_days_block(test, pred), _DAYS_KEYS)
    with_risk = [w for w in windows if w.open_risk]
    if with_risk:
        risk_test = TestSet.pooled([w.open_test for w in with_risk])
        for name in [n for n in with_risk[0].open_risk if all(n in w.open_risk for w in with_risk)]:
            p = _cat([w.open_risk[name] for w in with_risk])
            out["risk"][name] = _short(default_block(risk_test, p), _RISK_KEYS)
    return out


def recalibrated_coverage(
    windows: list[WindowResult], name: str, *, nominal: float
) -> float | None:
    """p10-p90 coverage of candidate `name` after recalibration, each window's interval
    adjusted on the other windows only (None with a single window)."""
    if len(windows) < 2:
        return None
    hits, total = 0.0, 0
    for k, w in enumerate(windows):
        others = [o for j, o in enumerate(windows) if j != k]
        try:
            adj = fit_interval_adjustment(
                _cat([o.days[name]["p10"] for o in others]),
                _cat([o.days[name]["p90"] for o in others]),
                _cat([o.test.days_late for o in others]),
                nominal=nominal,
            )
        except InsufficientDataError:
            return None
        d = w.days[name]
        p10, _, p90 = adj.apply(d["p10"], d["p50"], d["p90"])
        hits += coverage(p10, p90, w.test.days_late) * len(w.test.days_late)
        total += len(w.test.days_late)
    return round(hits / total, 6) if total else None


def _target(
    block: dict[str, Metrics], choice: Choice, baselines: tuple[str, ...]
) -> TargetEvaluation:
    return TargetEvaluation(
        model=block[choice.model] if choice.model else block[choice.served],
        baselines={b: block[b] for b in baselines if b in block},
    )


def _latest_positives(result: BacktestResult) -> dict[str, int]:
    """Risk-target positives in the latest window's training and validation rows."""
    latest = result.windows[0]
    return {"train_defaults": latest.train_positives, "valid_defaults": latest.valid_positives}


def _choices(
    pooled: Pooled,
    days_block: dict[str, Metrics],
    risk_block: dict[str, Metrics],
    *,
    settings: Settings,
) -> dict[str, Choice]:
    """The choice per question (risk only when there are risk metrics)."""
    resamples, seed = settings.backtest_resamples, settings.train_seed
    choices = {
        "days_late": choose(
            "days_late",
            days_block,
            y=pooled.test.days_late,
            predictions=pooled.days,
            clusters=pooled.customers,
            resamples=resamples,
            seed=seed,
        )
    }
    if risk_block and pooled.risk_test is not None and pooled.risk_customers is not None:
        choices["risk"] = choose(
            "risk",
            risk_block,
            y=pooled.risk_test.default,
            predictions={n: {"p": p} for n, p in pooled.risk.items()},
            clusters=pooled.risk_customers,
            resamples=resamples,
            seed=seed,
        )
    return choices


def build_evaluation(
    result: BacktestResult, *, settings: Settings
) -> tuple[Evaluation, dict[str, Choice], Pooled]:
    """The evaluation of a backtest, the choice per question, and the pooled predictions."""
    pooled = pool(result.windows)
    days_block = {n: _days_block(pooled.test, d) for n, d in pooled.days.items()}
    risk_block: dict[str, Metrics] = {}
    if pooled.risk_test is not None and result.risk_target is not None:
        risk_block = {n: default_block(pooled.risk_test, p) for n, p in pooled.risk.items()}
    choices = _choices(pooled, days_block, risk_block, settings=settings)
    days_choice = choices["days_late"]
    risk = _target(risk_block, choices["risk"], _RISK_BASELINES) if "risk" in choices else None
    latest = result.plan.windows[0]
    served_days = days_choice.served
    extra: dict[str, Any] = {
        "risk_target": result.risk_target,
        "windows": [_window_json(w) for w in result.windows],
        "candidates": {
            "risk": {n: _short(m, _RISK_KEYS) for n, m in risk_block.items()},
            "days_late": {n: _short(m, _DAYS_KEYS) for n, m in days_block.items()},
        },
        "chosen": {q: c.to_json() for q, c in choices.items()},
        "questions": {"open_invoice": _open_question(result.windows)},
        "interval_coverage_recalibrated": {
            served_days: recalibrated_coverage(result.windows, served_days, nominal=0.8)
        },
    }
    if result.risk_target == "very_late" and risk is not None:
        extra["very_late"] = risk.to_json()
        extra["very_late_days"] = settings.very_late_days
        risk = None
    test = pooled.test
    evaluation = Evaluation(
        as_of=result.as_of.isoformat(),
        default=risk,
        default_unavailable_reason=result.check.default_unavailable_reason
        or (
            "defaults are too rare: the risk model predicts very late payment (see very_late)"
            if result.risk_target == "very_late"
            else None
        ),
        days_late=_target(days_block, days_choice, _DAYS_BASELINES),
        test_period=result.plan.test_period,
        valid_period=latest.valid_period,
        train_period=latest.train_period,
        rows={
            "train": int(latest.train.sum()),
            "valid": int(latest.valid.sum()),
            "test": int(sum(w.window.test.sum() for w in result.windows)),
            "test_invoices": len(test.X),
            "test_cold_start": int(test.cold_start.sum()),
            "excluded_incomplete": result.plan.excluded,
            **_latest_positives(result),
            "test_defaults": int(test.default.sum()),
            "windows": len(result.windows),
        },
        calibration=None,
        warnings=tuple(result.check.warnings) + tuple(n for w in result.windows for n in w.notes),
        extra=extra,
    )
    return evaluation, choices, pooled
