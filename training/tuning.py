"""An optional, budgeted hyper-parameter search around the sized LightGBM parameters.

`duecast train --tune [--trials N | --minutes M]` calls `tune` with an objective that
fits a model on the training rows and returns its validation loss. The search is
Optuna's TPE sampler, seeded, so a seed gives the same sequence of trials (and, with a
deterministic objective, the same values); it stops at `trials` or after `minutes`,
whichever comes first (a trial under way when time runs out is finished, not cut).

The search space is a function of the base parameters (`training.sizing.sized_params`
for the table at hand), so it scales with the data instead of being one box for every
ledger (see `search_space`):

    num_leaves          integer, base / 4 .. base * 4 (at least 2, at most 255), log scale
    min_data_in_leaf    integer, base / 4 .. base * 4 (at least 1), log scale
    learning_rate       base / 3 .. base * 3 (at most 0.3), log scale
    lambda_l2           base / 10 .. base * 10 (at least 1e-3), log scale
    feature_fraction    base - 0.3 .. 1.0 (at least 0.3)

The first trial is always the base itself, so the search can only return the base or
something the objective scored better. Every trial becomes a record (number, full
parameters, value) that `training.registry` logs as an MLflow child run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["TUNED_KEYS", "TuneResult", "search_space", "tune"]

logger = logging.getLogger(__name__)

TUNED_KEYS = ("num_leaves", "min_data_in_leaf", "learning_rate", "lambda_l2", "feature_fraction")


@dataclass(frozen=True)
class TuneResult:
    """The best parameters found, their objective value, and one record per trial."""

    best_params: dict
    best_value: float
    records: list[dict] = field(default_factory=list)


def search_space(base: dict) -> dict[str, tuple[float, float, str]]:
    """(low, high, "int" | "log" | "linear") of each tuned parameter, around `base`.

    Raises:
        ValueError: if `base` lacks one of TUNED_KEYS.
    """
    missing = [k for k in TUNED_KEYS if k not in base]
    if missing:
        raise ValueError(f"the base parameters lack {missing}: start from sized_params(...)")
    leaves = int(base["num_leaves"])
    min_data = int(base["min_data_in_leaf"])
    rate = float(base["learning_rate"])
    l2 = float(base["lambda_l2"])
    fraction = float(base["feature_fraction"])
    return {
        "num_leaves": (max(2, leaves // 4), min(255, max(leaves * 4, 4)), "int"),
        "min_data_in_leaf": (max(1, min_data // 4), max(min_data * 4, 2), "int"),
        "learning_rate": (rate / 3.0, min(0.3, rate * 3.0), "log"),
        "lambda_l2": (max(1e-3, l2 / 10.0), max(l2 * 10.0, 1e-2), "log"),
        "feature_fraction": (max(0.3, min(fraction - 0.3, 0.9)), 1.0, "linear"),
    }


def _suggest(trial: optuna.Trial, space: dict[str, tuple[float, float, str]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (low, high, scale) in space.items():
        if scale == "int":
            values[name] = trial.suggest_int(name, int(low), int(high), log=True)
        else:
            values[name] = trial.suggest_float(name, low, high, log=scale == "log")
    return values


def _check_budget(trials: int | None, minutes: float | None) -> None:
    if trials is None and minutes is None:
        raise ValueError("a search needs a budget: give a number of trials, minutes, or both")
    if trials is not None and trials < 1:
        raise ValueError(f"the number of trials must be at least 1, got {trials}")
    if minutes is not None and not (minutes > 0 and math.isfinite(minutes)):
        raise ValueError(f"the search time must be a positive number of minutes, got {minutes}")


def _start(base: dict, space: dict[str, tuple[float, float, str]]) -> dict[str, Any]:
    """The base's tuned values, kept inside the space (enqueued as the first trial)."""
    start: dict[str, Any] = {}
    for name, (low, high, scale) in space.items():
        value = min(max(base[name], low), high)
        start[name] = int(value) if scale == "int" else float(value)
    return start


def tune(
    objective: Callable[[dict], float],
    *,
    base: dict,
    trials: int | None,
    minutes: float | None,
    seed: int,
    direction: str = "minimize",
) -> TuneResult:
    """Search the parameters around `base` that minimise (or maximise) `objective`.

    `objective` gets the full parameter dict (`base` with the tuned keys replaced) and
    returns the value to optimise; a NaN or infinite value fails that trial only.

    Raises:
        ValueError: without a budget (`trials` or `minutes`), with a bad one, or with an
            unknown `direction`.
    """
    import optuna

    _check_budget(trials, minutes)
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
    space = search_space(base)

    def run_trial(trial: optuna.Trial) -> float:
        params = {**base, **_suggest(trial, space)}
        trial.set_user_attr("params", params)
        return float(objective(params))

    verbosity = optuna.logging.get_verbosity()
    # Optuna logs every trial at INFO through its own handler; our caller logs them.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction=optuna.study.StudyDirection[direction.upper()],
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
        study.enqueue_trial(_start(base, space))
        study.optimize(
            run_trial,
            n_trials=trials,
            timeout=None if minutes is None else minutes * 60.0,
            gc_after_trial=False,
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ValueError(
            "every trial of the search failed (the objective returned NaN or infinity); "
            "check the objective on the base parameters"
        )
    records = [
        {
            "number": t.number,
            "params": dict(t.user_attrs["params"]),
            "metrics": {"value": float(t.value)},  # type: ignore[arg-type]
        }
        for t in done
    ]
    best = study.best_trial
    logger.info(
        "Search: %d trials (%d failed), best value %.6g at trial %d",
        len(study.trials),
        len(study.trials) - len(done),
        best.value,
        best.number,
    )
    return TuneResult(
        best_params=dict(best.user_attrs["params"]),
        best_value=float(best.value),  # type: ignore[arg-type]
        records=records,
    )
