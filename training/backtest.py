"""The rolling-origin backtest: every candidate, every window, then the champion refit.

1. `training.folds.plan_windows` lays consecutive test windows back from the last
   complete issue date; each window learns only from what was known at its start.
2. In each window every candidate of each question (`training.candidates`) is fitted
   on the window's training rows (early stopping and calibration on its validation
   rows, issue-date rows only: that is the question the headline metrics ask) and
   predicts the window's test rows.
3. The test windows are pooled; `training.choice` picks per question the candidate to
   serve, with paired bootstrap intervals of the model-minus-baseline difference.
4. `training.refit` fits the served candidates again on all known history, with the
   windows' rounds, calibration and interval recalibration fitted on their
   out-of-time predictions. The evaluation keeps the held-out figures.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import logit

from kernel.config import Settings
from training.bundle import feature_matrix
from training.candidates import (
    BLEND_PARTS,
    DAYS_CANDIDATES,
    RISK_CANDIDATES,
    DaysFit,
    RiskFit,
    Rows,
    blend_days,
    fit_days,
    fit_risk,
)
from training.dataset import issue_rows, model_inputs
from training.evaluation import Evaluation, TestSet, test_set
from training.folds import Window, WindowPlan, plan_windows
from training.models import TrainConfig
from training.sizing import sized_params, sized_rounds
from training.sufficiency import DataCheck, check_windows, usable_risk
from training.tune_run import TuneBudget, tune_on_rows
from training.tuning import TuneResult
from training.window_hazard import hazard_window

if TYPE_CHECKING:
    from training.choice import Choice
    from training.report import Pooled

__all__ = [
    "BacktestResult",
    "WindowResult",
    "run_backtest",
    "settings_plan",
    "train_config",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

# An open invoice counts for the "open invoice" question from this age on.
OPEN_QUESTION_AGE_DAYS = 30
# The open-invoice question is reported, not chosen on: every candidate predicts a seeded
# sample of this many of its rows per window (75,000 pooled), not all of them (80,000 a
# window on a 1M-invoice ledger, about a tenth of the backtest's time).
OPEN_QUESTION_MAX_ROWS = 25_000


@dataclass
class WindowResult:
    """One window's test rows and every candidate's predictions on them."""

    window: Window
    test: TestSet
    customers: np.ndarray
    open_test: TestSet
    risk: dict[str, np.ndarray] = field(default_factory=dict)  # candidate -> P on test
    risk_raw: dict[str, np.ndarray] = field(default_factory=dict)  # uncalibrated scores
    open_risk: dict[str, np.ndarray] = field(default_factory=dict)
    days: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    open_days: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    rounds: dict[str, dict[str, int]] = field(default_factory=dict)  # candidate -> model -> trees
    train_rows: int = 0
    train_positives: int = 0  # of the risk target, in the training and validation rows
    valid_positives: int = 0
    risk_skipped: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class BacktestResult:
    """The windows, the champion refit on all history, and the run's evaluation parts."""

    as_of: datetime.date
    plan: WindowPlan
    check: DataCheck
    feature_columns: list[str]
    categories: dict[str, list[str]]
    windows: list[WindowResult]
    risk_target: str | None
    risk: RiskFit | None = None  # served, refit on all history
    days: DaysFit | None = None
    evaluation: Evaluation | None = None  # set once the windows are pooled
    params: dict = field(default_factory=dict)
    pooled: Pooled | None = None  # the windows' test rows and predictions
    choices: dict[str, Choice] = field(default_factory=dict)
    trials: list[dict] = field(default_factory=list)  # tuning trials (MLflow child runs)


def settings_plan(table: pd.DataFrame, *, as_of: datetime.date, settings: Settings) -> WindowPlan:
    """`training.folds.plan_windows` with the horizon, windows and periods of `settings`."""
    return plan_windows(
        table,
        as_of=pd.Timestamp(as_of),
        horizon_days=settings.horizon_days,
        windows=settings.backtest_windows,
        test_days=settings.backtest_test_days,
        valid_days=settings.backtest_valid_days,
        min_train_rows=settings.min_settled_invoices,
    )


def train_config(settings: Settings, *, n_rows: int, n_features: int) -> TrainConfig:
    """The model settings of a fit on `n_rows` rows: LightGBM sized to the data."""
    max_rounds, patience = sized_rounds(
        n_rows,
        max_rounds=settings.train_max_rounds,
        early_stopping=settings.train_early_stopping_rounds,
    )
    return TrainConfig(
        seed=settings.train_seed,
        threads=settings.train_threads,
        max_rounds=max_rounds,
        early_stopping=patience,
        params=sized_params(n_rows, n_features=n_features),
    )


def sample_rows(mask: np.ndarray, limit: int, *, seed: int) -> np.ndarray:
    """Row positions of `mask`, a seeded random subset (in table order) beyond `limit`."""
    rows = np.flatnonzero(mask)
    if len(rows) <= limit:
        return rows
    logger.info("%d training rows: the models learn from a sample of %d", len(rows), limit)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=limit, replace=False))


def _step(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


@dataclass(frozen=True)
class Labels:
    """The label columns of the table as arrays: risk (0/1, None without a target), days."""

    risk: np.ndarray | None
    days: np.ndarray


def _open_mask(table: pd.DataFrame, mask: np.ndarray, *, seed: int) -> np.ndarray:
    """Snapshot rows of invoices still open at least `OPEN_QUESTION_AGE_DAYS` after issue,
    a seeded sample of `OPEN_QUESTION_MAX_ROWS` when there are more."""
    age = (table["snapshot_date"] - table["issue_date"]).dt.days.to_numpy()
    rows = np.flatnonzero(mask & ~issue_rows(table) & (age >= OPEN_QUESTION_AGE_DAYS))
    if len(rows) > OPEN_QUESTION_MAX_ROWS:
        rows = np.random.default_rng(seed).choice(rows, size=OPEN_QUESTION_MAX_ROWS, replace=False)
    out = np.zeros(len(table), dtype=bool)
    out[rows] = True
    return out


def _run_window(
    table: pd.DataFrame,
    X: np.ndarray,
    window: Window,
    labels: Labels,
    *,
    names: list[str],
    settings: Settings,
    overrides: Mapping[str, object] | None,
    target: str,
) -> WindowResult:
    """Fit every candidate on one window and predict its test rows."""
    issue = issue_rows(table)
    rows, train = window_rows(X, window, labels, issue=issue, names=names, settings=settings)
    y = labels.risk if labels.risk is not None else np.zeros(len(table), dtype="int64")
    config = train_config(settings, n_rows=len(train), n_features=len(names))
    test = test_set(table, X, window.test, target=target)
    open_test = test_set(
        table,
        X,
        _open_mask(table, window.test, seed=settings.train_seed),
        target=target,
        issue_only=False,
    )
    customers = table["customer_id"].to_numpy()[window.test & issue]
    result = WindowResult(
        window,
        test,
        customers,
        open_test,
        train_rows=len(train),
        train_positives=int(rows.y_tr.sum()),
        valid_positives=int(rows.y_va.sum()),
    )
    extra = dict(overrides or {})
    if labels.risk is not None:
        result.risk_skipped = _one_class(rows)
    if labels.risk is not None and result.risk_skipped is None:
        for name in RISK_CANDIDATES:
            fit = fit_risk(
                name,
                rows,
                config=config,
                isotonic_min_defaults=settings.calibration_isotonic_min_defaults,
                overrides=extra,
            )
            result.risk_raw[name] = fit.raw(test.X)
            result.risk[name] = fit.predict(test.X)
            result.open_risk[name] = fit.predict(open_test.X)
            if fit.booster is not None:
                result.rounds[f"risk.{name}"] = {"default": fit.booster.num_trees()}
    for name in DAYS_CANDIDATES:
        days = fit_days(name, rows, config=config, overrides=extra)
        result.days[name] = days.predict(test.X)
        result.open_days[name] = days.predict(open_test.X)
        trees = days.rounds()
        if trees is not None:
            result.rounds[f"days.{name}"] = trees
    _add_blend(result)
    if settings.train_hazard:
        with_risk = target == "default" and labels.risk is not None and not result.risk_skipped
        hazard_window(
            result,
            table,
            X,
            names=names,
            settings=settings,
            config=config,
            y=y if with_risk else None,
        )
    return result


def _add_blend(result: WindowResult) -> None:
    """The blend's predictions: the average of its parts' (nothing to fit)."""
    a, b = BLEND_PARTS
    if a in result.risk and b in result.risk:
        result.risk["blend"] = (result.risk[a] + result.risk[b]) / 2
        result.risk_raw["blend"] = logit(np.clip(result.risk["blend"], 1e-6, 1 - 1e-6))
        result.open_risk["blend"] = (result.open_risk[a] + result.open_risk[b]) / 2
    result.days["blend"] = blend_days([result.days[a], result.days[b]])
    result.open_days["blend"] = blend_days([result.open_days[a], result.open_days[b]])


def window_rows(
    X: np.ndarray,
    window: Window,
    labels: Labels,
    *,
    issue: np.ndarray,
    names: list[str],
    settings: Settings,
) -> tuple[Rows, np.ndarray]:
    """A window's training rows (sampled) and validation rows (issue dates), and the
    positions of the training rows."""
    train = sample_rows(window.train, settings.backtest_max_rows, seed=settings.train_seed)
    valid = window.valid & issue
    y = labels.risk if labels.risk is not None else np.zeros(len(X), dtype="int64")
    rows = Rows(
        X[train], y[train], labels.days[train], X[valid], y[valid], labels.days[valid], names
    )
    return rows, train


def _one_class(rows: Rows) -> str | None:
    """Why a window cannot fit a risk model (one class in training or validation), or None."""
    for part, y in (("training", rows.y_tr), ("validation", rows.y_va)):
        if len(np.unique(y)) < 2:
            return f"its {part} rows hold {int(y.sum())} positives of {len(y)}"
    return None


def run_backtest(
    table: pd.DataFrame,
    *,
    as_of: datetime.date,
    settings: Settings,
    on_progress: Progress | None = None,
    overrides: Mapping[str, object] | None = None,
    notes: Sequence[str] = (),
    tune: TuneBudget | None = None,
) -> BacktestResult:
    """Backtest every candidate over the rolling-origin windows, choose, and refit.

    Args:
        table: `features.build.build_training_table` output.
        as_of: the date the table was cut at.
        settings: periods, thresholds and model settings.
        on_progress: called with (stage, done, total) after each step.
        overrides: LightGBM parameters replacing the sized ones in every model (tests).
        notes: warnings found before the backtest (the as-of date chosen), shown first.
        tune: a budget to search LightGBM's parameters first (`training.tune_run`).

    Raises:
        InsufficientDataError: if no window has enough history for the days-late models
            (`training.sufficiency.check_windows`).
    """
    from training.refit import refit_served
    from training.report import build_evaluation

    names, categories = model_inputs(table, settings.train_exclude_features)
    X = feature_matrix(table, names, categories)
    plan = settings_plan(table, as_of=as_of, settings=settings)
    check, target = check_windows(table, plan, settings, notes=notes)
    labels = Labels(
        None if target is None else table[target].to_numpy(dtype="int64"),
        table["days_late"].to_numpy(dtype="float64"),
    )
    trials: list[dict] = []
    if tune is not None:
        _step(on_progress, "tuning", 0, 1)
        search = partial(_tune, names=names, settings=settings, tune=tune)
        tuned = search(X, plan.windows[0], labels, issue=issue_rows(table))
        overrides, trials = {**tuned.best_params, **(overrides or {})}, tuned.records
    total = len(plan.windows) + 2
    results = []
    for k, window in enumerate(plan.windows):
        _step(on_progress, "backtest", k, total)
        fit = partial(_run_window, names=names, settings=settings, overrides=overrides)
        results.append(fit(table, X, window, labels, target=target or "default"))
    check, target = usable_risk(results, check, target)
    result = BacktestResult(
        as_of=as_of,
        plan=plan,
        check=check,
        feature_columns=names,
        categories=categories,
        windows=results,
        risk_target=target,
        trials=trials,
    )
    if tune is not None:
        result.params["tuned"] = dict(overrides or {})
    evaluation, choices, pooled = build_evaluation(result, settings=settings)
    result.pooled, result.choices = pooled, choices
    _step(on_progress, "backtest", total - 1, total)
    refit_served(result, table, X, labels, choices=choices, pooled=pooled, settings=settings)
    calibration = None if result.risk is None else result.risk.calibration_method()
    result.evaluation = dataclasses.replace(evaluation, calibration=calibration)
    _step(on_progress, "backtest", total, total)
    return result


def _tune(
    X: np.ndarray,
    window: Window,
    labels: Labels,
    *,
    issue: np.ndarray,
    names: list[str],
    settings: Settings,
    tune: TuneBudget,
) -> TuneResult:
    """Search LightGBM's parameters on the latest window's training and validation rows."""
    rows, train = window_rows(X, window, labels, issue=issue, names=names, settings=settings)
    config = train_config(settings, n_rows=len(train), n_features=len(names))
    with_risk = labels.risk is not None and _one_class(rows) is None
    return tune_on_rows(rows, config=config, settings=settings, budget=tune, with_risk=with_risk)
