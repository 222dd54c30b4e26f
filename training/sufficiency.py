"""What the history supports: thin or one-sided ledgers train what they can, and say so.

A company with few or no defaults (every invoice eventually paid), few customers or
under a year of history is common. The days-late models need only settled invoices;
the default model needs defaults in both the training and the validation rows of the
latest backtest window (to learn and to calibrate). With too few defaults the risk
model predicts "very late" instead (settled more than DUECAST_VERY_LATE_DAYS after due,
or not at all), which such companies still care about; with too few of those too, there
is no risk model and serving says so. Thresholds are settings (`DUECAST_MIN_*`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kernel.config import Settings
from kernel.errors import InsufficientDataError
from training.folds import WindowPlan

if TYPE_CHECKING:
    from training.backtest import WindowResult

__all__ = ["DataCheck", "check_windows", "usable_risk"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataCheck:
    """Outcome of the checks: warnings to show, and why the default model cannot train."""

    warnings: list[str] = field(default_factory=list)
    default_unavailable_reason: str | None = None

    @property
    def default_trainable(self) -> bool:
        """True when the history supports a default model."""
        return self.default_unavailable_reason is None

    def without_risk(self, reason: str) -> DataCheck:
        """The same check, with no risk model for `reason`."""
        logger.warning("%s", reason)
        return DataCheck(warnings=list(self.warnings), default_unavailable_reason=reason)


def _one_class_reason(d_train: int, n_train: int, d_valid: int, n_valid: int) -> str | None:
    """Why the risk model cannot train when the latest window's training or validation
    rows hold only defaults, or None.

    A classifier needs both outcomes to learn and to calibrate; rows where every invoice
    defaulted (often instalments dated after the as-of date) have one.
    """
    for period, defaults, rows, need in (
        ("training", d_train, n_train, "learn from"),
        ("validation", d_valid, n_valid, "calibrate probabilities on"),
    ):
        if defaults == rows:
            return (
                f"the latest window's {period} rows hold only defaults ({defaults} of {rows}): "
                f"a risk model needs paid invoices to {need}; the days-late models are "
                "trained. Check for invoices dated in the future or payments not imported"
            )
    return None


def _target_reason(
    table: pd.DataFrame, plan: WindowPlan, settings: Settings, target: str
) -> str | None:
    """Why `target` cannot be the risk target of the latest window, or None."""
    latest = plan.windows[0]
    y = table[target].to_numpy()
    valid = latest.valid & (table["snapshot_date"] == table["issue_date"]).to_numpy()
    d_train, d_valid = int(y[latest.train].sum()), int(y[valid].sum())
    word = "defaults" if target == "default" else f"invoices paid very late ({target})"
    if d_train < settings.min_defaults:
        return (
            f"the latest window's training rows hold {d_train} {word}, at least "
            f"{settings.min_defaults} are needed (DUECAST_MIN_DEFAULTS)"
        )
    if d_valid < settings.min_validation_defaults:
        return (
            f"the latest window's validation rows hold {d_valid} {word}, at least "
            f"{settings.min_validation_defaults} are needed to calibrate "
            "(DUECAST_MIN_VALIDATION_DEFAULTS)"
        )
    return _one_class_reason(d_train, int(latest.train.sum()), d_valid, int(valid.sum()))


def check_windows(
    table: pd.DataFrame, plan: WindowPlan, settings: Settings, *, notes: Sequence[str] = ()
) -> tuple[DataCheck, str | None]:
    """The data check of a rolling-origin plan, and the risk target it supports.

    The target is "default" when the latest window has enough defaults, else
    "very_late" (settled more than DUECAST_VERY_LATE_DAYS after due, or defaulted) when
    it has enough of those, else None with the reason.

    Raises:
        InsufficientDataError: if no window could be laid (too little history even for
            the days-late models).
    """
    if not plan.windows:
        raise InsufficientDataError(
            "too little history to train: "
            + "; ".join(plan.notes)
            + f". Outcomes are known only for invoices due more than {settings.horizon_days} "
            "days before a window starts (DUECAST_HORIZON_DAYS): import more history or "
            "train at a later --as-of date"
        )
    warnings = [*notes, *plan.notes, *_shape_warnings(table, settings)]
    reason = _target_reason(table, plan, settings, "default")
    target: str | None = "default"
    if reason is not None:
        very_late = _target_reason(table, plan, settings, "very_late")
        if very_late is None:
            warnings.append(
                f"too few defaults for a default model ({reason}): the risk model predicts "
                f"payment more than {settings.very_late_days} days late instead "
                "(DUECAST_VERY_LATE_DAYS)"
            )
            target, reason = "very_late", None
        else:
            # One-class rows give the same reason twice: say it once.
            also = "" if very_late == reason else f"; and {very_late}"
            target, reason = None, f"{reason}{also}"
    for message in [*warnings, *([reason] if reason else [])]:
        logger.warning("%s", message)
    return DataCheck(warnings=warnings, default_unavailable_reason=reason), target


def _shape_warnings(table: pd.DataFrame, settings: Settings) -> list[str]:
    """Few customers or a short history: the metrics are noisy."""
    out: list[str] = []
    customers = int(table["customer_id"].nunique())
    if customers < settings.min_customers:
        out.append(
            f"only {customers} customers (fewer than {settings.min_customers}): metrics are "
            "noisy and the model learns mostly from invoice features"
        )
    span = (table["issue_date"].max() - table["issue_date"].min()).days if len(table) else 0
    if span < settings.min_history_days:
        out.append(
            f"only {span} days of invoice history (less than {settings.min_history_days}): "
            "seasonality is not covered and the test windows are short"
        )
    return out


def usable_risk(
    results: list[WindowResult], check: DataCheck, target: str | None
) -> tuple[DataCheck, str | None]:
    """The check and risk target after the windows ran: no risk model when no window
    could fit one, or when the pooled test rows hold one outcome (nothing to measure or
    calibrate out of time on). The windows' risk predictions are then dropped."""
    if target is not None and all(r.risk_skipped for r in results):
        reasons = "; ".join(f"window {r.window.index + 1}: {r.risk_skipped}" for r in results)
        check = check.without_risk(f"no window could fit a {target} model ({reasons})")
        target = None
    elif target is not None and _pooled_one_class(results):
        check = check.without_risk(
            f"the test windows hold only one outcome of {target}: the risk model can be "
            "neither measured (ROC AUC) nor calibrated out of time"
        )
        target = None
    if target is None:
        for r in results:
            r.risk.clear()
            r.risk_raw.clear()
            r.open_risk.clear()
    return check, target


def _pooled_one_class(results: list[WindowResult]) -> bool:
    """True when the test rows of the windows that fitted a risk model hold one class."""
    y = [r.test.default for r in results if r.risk]
    return bool(y) and len(np.unique(np.concatenate(y))) < 2
