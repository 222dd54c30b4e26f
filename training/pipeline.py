"""The three training commands: `train`, `evaluate`, `promote` (what the CLI calls).

- `train`: cut the store at the as-of date, build the training table, run the
  rolling-origin backtest of every candidate (`training.backtest`), refit what it
  chose on all history, log everything to MLflow, register the bundle and mark it
  `challenger`.
- `evaluate`: the evaluation object of the challenger (or, without one, the champion).
- `promote`: move `champion` to the challenger if what it serves is no worse than its
  own baselines on its test windows and no worse than the current champion on the
  challenger's test windows (ROC AUC, MAE, calibration, within the tolerances in
  settings), or with `force` (recorded); then export its bundle to
  `<models_dir>/champion` for serving.
"""

from __future__ import annotations

import datetime
import logging
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import kernel
from features import export
from features.spec import FEATURE_SET_VERSION
from features.spec_attributes import model_spec_records
from kernel.config import Settings
from kernel.errors import ModelNotFoundError
from training.backtest import BacktestResult, run_backtest
from training.bundle import Bundle, save_bundle
from training.dataset import data_fingerprint, load_training_table, period_mask
from training.evaluation import Evaluation, Metrics, score_on_test
from training.run_bundle import draft_bundle
from training.tune_run import TuneBudget

__all__ = [
    "BASELINES",
    "PromotionOutcome",
    "TrainOutcome",
    "baseline_problems",
    "champion_dir",
    "compare_metrics",
    "evaluate",
    "promote",
    "train",
]

logger = logging.getLogger(__name__)

BASELINES = {"risk": ("history", "logistic"), "days_late": ("history", "linear")}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainOutcome:
    """What `train` registered and what it found."""

    version: str
    run_id: str
    evaluation: Evaluation
    warnings: list[str]
    default_unavailable_reason: str | None


@dataclass(frozen=True)
class PromotionOutcome:
    """Whether the challenger became champion, and why (or why not)."""

    promoted: bool
    challenger: str
    previous_champion: str | None
    reasons: list[str]
    comparison: dict = field(default_factory=dict)
    bundle_dir: Path | None = None


def champion_dir(settings: Settings) -> Path:
    """Where the champion bundle is exported for serving."""
    return settings.models_dir / "champion"


def _code_version() -> str:
    """duecast's version, plus the git commit when running from a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{kernel.__version__}+{sha}" if sha else kernel.__version__


def train(
    settings: Settings,
    *,
    as_of: datetime.date | None = None,
    on_progress: Progress | None = None,
    overrides: Mapping[str, object] | None = None,
    today: datetime.date | None = None,
    tune: TuneBudget | None = None,
) -> TrainOutcome:
    """Train on the store's history as of `as_of`, log to MLflow, register a challenger.

    Args:
        settings: store, tracking store and training settings.
        as_of: cut date (default: the day after the last event in the store dated on or
            before today; rows after today are left out, with a warning).
        on_progress: called with (stage, done, total).
        overrides: LightGBM parameters replacing the defaults (experiments, tests).
        today: today's date instead of the UTC clock's (tests).
        tune: search LightGBM's parameters within this budget first; every trial is
            logged as an MLflow child run of the training run.

    Raises:
        ModelNotFoundError: if the store holds no invoices.
        InsufficientDataError: if the history cannot support even the days-late models.
    """
    from training.plots import write_plots
    from training.registry import log_training_run

    chosen = as_of is None
    today = today or export.utc_today()
    table, as_of, ledger = load_training_table(
        settings, as_of=as_of, today=today, include_open=settings.train_hazard
    )
    # Rows dated after today were left out of the as-of date: say so beside the data check.
    note = export.future_dated_note(ledger, as_of=as_of, today=today) if chosen else None
    result = run_backtest(
        table,
        as_of=as_of,
        settings=settings,
        on_progress=on_progress,
        overrides=overrides,
        notes=[note] if note else [],
        tune=tune,
    )
    fingerprint = data_fingerprint(table)
    trained_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    tags = _tags(result, as_of)
    assert result.evaluation is not None

    if on_progress is not None:
        on_progress("logging to MLflow", 0, 1)
    with tempfile.TemporaryDirectory() as tmp:
        plots = write_plots(result, Path(tmp))
        logged = log_training_run(
            settings,
            params=result.params,
            evaluation=result.evaluation,
            fingerprint=fingerprint,
            feature_spec=model_spec_records(result.feature_columns),
            tags=tags,
            plots=plots,
            bundle=draft_bundle(result, settings=settings, trained_at=trained_at),
            trials=result.trials,
        )
    if on_progress is not None:
        on_progress("logging to MLflow", 1, 1)
    return TrainOutcome(
        version=logged.version,
        run_id=logged.run_id,
        evaluation=result.evaluation.labelled(model_version=logged.version, run_id=logged.run_id),
        warnings=list(result.evaluation.warnings),
        default_unavailable_reason=result.check.default_unavailable_reason,
    )


def _tags(result: BacktestResult, as_of: datetime.date) -> dict[str, str]:
    """The run's MLflow tags: cut, code, feature set, risk target and what is served."""
    tags = {
        "as_of": as_of.isoformat(),
        "code_version": _code_version(),
        "feature_set_version": FEATURE_SET_VERSION,
        "default_model": "yes" if result.risk_target == "default" else "no",
        "risk_target": result.risk_target or "none",
        **{f"served.{q}": c.served for q, c in result.choices.items()},
    }
    if result.check.default_unavailable_reason:
        tags["default_unavailable_reason"] = result.check.default_unavailable_reason
    return tags


def evaluate(settings: Settings, *, alias: str | None = None) -> Evaluation:
    """The evaluation object of the challenger (default) or champion, or of `alias`.

    Raises:
        ModelNotFoundError: if no model has been trained yet.
    """
    from training.registry import (
        CHALLENGER,
        CHAMPION,
        get_version,
        load_evaluation,
        run_artifact_uri,
    )

    aliases = [alias] if alias else [CHALLENGER, CHAMPION]
    for name in aliases:
        version = get_version(settings, name)
        if version is not None:
            plots = f"{run_artifact_uri(settings, version.run_id)}/plots"
            return load_evaluation(settings, version).labelled(alias=name, plots=plots)
    raise ModelNotFoundError(
        f"no {' or '.join(aliases)} model in {settings.mlflow_tracking_uri}: run `duecast train`"
    )


def compare_metrics(
    challenger: tuple[Metrics | None, Metrics],
    champion: tuple[Metrics | None, Metrics],
    settings: Settings,
) -> list[str]:
    """Why the challenger is worse than the champion on the same rows (empty: it is not).

    Each entry is a sentence. ROC AUC may drop by at most `promote_auc_tolerance`, MAE
    grow by at most `promote_mae_tolerance` days and calibration error by at most
    `promote_ece_tolerance`; a challenger without a default model never replaces a
    champion that has one.
    """
    (ch_default, ch_days), (cp_default, cp_days) = challenger, champion
    problems: list[str] = []
    if _worse(ch_days["mae"], cp_days["mae"], settings.promote_mae_tolerance, higher_better=False):
        problems.append(
            f"days-late MAE {ch_days['mae']:.2f} is worse than the champion's "
            f"{cp_days['mae']:.2f} (tolerance {settings.promote_mae_tolerance:g} days)"
        )
    if cp_default is not None and ch_default is None:
        problems.append("the challenger has no default model and the champion has one")
    elif cp_default is not None and ch_default is not None:
        ch_auc, cp_auc = ch_default["roc_auc"], cp_default["roc_auc"]
        if _worse(ch_auc, cp_auc, settings.promote_auc_tolerance, higher_better=True):
            problems.append(
                f"ROC AUC {ch_auc:.4f} is worse than the champion's {cp_auc:.4f} "
                f"(tolerance {settings.promote_auc_tolerance:g})"
            )
        ch_ece, cp_ece = ch_default["ece"], cp_default["ece"]
        if _worse(ch_ece, cp_ece, settings.promote_ece_tolerance, higher_better=False):
            problems.append(
                f"calibration error {ch_ece:.4f} is worse than the champion's "
                f"{cp_ece:.4f} (tolerance {settings.promote_ece_tolerance:g})"
            )
    return problems


def baseline_problems(evaluation: Evaluation, settings: Settings) -> list[str]:
    """Why what a run serves is worse than one of its baselines on its own test windows.

    Each question's served candidate is compared with every baseline on the pooled
    rolling-origin windows (ROC AUC within `promote_auc_tolerance`, MAE within
    `promote_mae_tolerance` days). Runs logged before the windows existed have no
    candidates to compare and pass.
    """
    candidates = evaluation.extra.get("candidates") or {}
    problems: list[str] = []
    for question, choice in (evaluation.extra.get("chosen") or {}).items():
        block = candidates.get(question) or {}
        metric, higher = ("roc_auc", True) if question == "risk" else ("mae", False)
        tolerance = settings.promote_auc_tolerance if higher else settings.promote_mae_tolerance
        served = (block.get(choice["served"]) or {}).get(metric)
        for name in BASELINES[question]:
            value = (block.get(name) or {}).get(metric)
            if _worse(served, value, tolerance, higher_better=higher):
                problems.append(
                    f"{question}: the served {choice['served']} has {metric} {served:.4f}, "
                    f"worse than the {name} baseline's {value:.4f} on the same test windows"
                )
    return problems


def _worse(new: float | None, old: float | None, tolerance: float, *, higher_better: bool) -> bool:
    """True when `new` is worse than `old` by more than `tolerance` (unknown: not worse)."""
    if new is None or old is None:
        return False
    return new < old - tolerance if higher_better else new > old + tolerance


def _headline(blocks: tuple[Metrics | None, Metrics]) -> dict:
    default, days = blocks
    return {
        "roc_auc": None if default is None else default["roc_auc"],
        "ece": None if default is None else default["ece"],
        "mae": days["mae"],
    }


def promote(settings: Settings, *, force: bool = False) -> PromotionOutcome:
    """Make the challenger the champion if it is not worse (or with `force`); export it.

    Raises:
        ModelNotFoundError: if there is no challenger (run `duecast train` first).
    """
    from training.registry import (
        CHALLENGER,
        CHAMPION,
        download_bundle,
        get_version,
        set_alias,
        tag_version,
    )

    challenger = get_version(settings, CHALLENGER)
    if challenger is None:
        raise ModelNotFoundError(
            f"no challenger in {settings.mlflow_tracking_uri}: run `duecast train` first"
        )
    champion = get_version(settings, CHAMPION)
    bundle = download_bundle(settings, challenger)
    previous = None if champion is None else champion.version
    reasons: list[str] = []
    comparison: dict = {}
    problems = [] if force else baseline_problems(Evaluation.from_json(bundle.metrics), settings)
    if champion is None:
        reasons.append("there is no champion yet")
    elif champion.version == challenger.version:
        reasons.append(f"version {challenger.version} is already the champion")
    elif force:
        reasons.append(f"forced over champion version {champion.version}")
    else:
        try:
            current = download_bundle(settings, champion)
        except ModelNotFoundError as exc:
            current = None
            reasons.append(f"the champion cannot be loaded any more ({exc})")
        if current is not None:
            ch_blocks, cp_blocks = _score_both(settings, bundle, current)
            comparison = {"challenger": _headline(ch_blocks), "champion": _headline(cp_blocks)}
            problems = compare_metrics(ch_blocks, cp_blocks, settings) + problems
            reasons.append(
                f"not worse than champion version {champion.version} on the test period "
                f"{list(_test_period(bundle))}"
            )
    if problems:
        note = "; ".join(problems)
        tag_version(settings, challenger.version, "promotion", f"refused: {note}")
        logger.warning("Promotion of version %s refused: %s", challenger.version, note)
        return PromotionOutcome(False, challenger.version, previous, problems, comparison, None)
    if force:
        reasons.append("--force: the comparisons were not run")
    set_alias(settings, CHAMPION, challenger.version)
    tag_version(settings, challenger.version, "promotion", "; ".join(reasons))
    path = save_bundle(bundle, champion_dir(settings))
    logger.info("Version %s is the champion, exported to %s", challenger.version, path)
    return PromotionOutcome(True, challenger.version, previous, reasons, comparison, path)


def _test_period(bundle: Bundle) -> tuple[str, str]:
    """The test period of the run a bundle was registered from."""
    return Evaluation.from_json(bundle.metrics).test_period


def _score_both(
    settings: Settings, challenger: Bundle, champion: Bundle
) -> tuple[tuple[Metrics | None, Metrics], tuple[Metrics | None, Metrics]]:
    """Both bundles' metrics on the challenger's test period, rebuilt from the store."""
    as_of = datetime.date.fromisoformat(challenger.as_of)
    table, _, _ = load_training_table(settings, as_of=as_of)
    mask = period_mask(
        table,
        _test_period(challenger),
        as_of=as_of,
        horizon_days=challenger.horizon_days,
    )
    return score_on_test(challenger, table, mask), score_on_test(champion, table, mask)
