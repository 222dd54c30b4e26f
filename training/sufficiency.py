"""What the history supports: thin or one-sided ledgers train what they can, and say so.

A company with few or no defaults (every invoice eventually paid), few customers or
under a year of history is common. The days-late models need only settled invoices;
the default model needs defaults in both the training period (to learn) and the
validation period (to calibrate). Thresholds are settings (`DUECAST_MIN_*`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from kernel.config import Settings
from kernel.errors import InsufficientDataError
from training.dataset import Folds

__all__ = ["DataCheck", "check_history"]

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


def check_history(table: pd.DataFrame, folds: Folds, settings: Settings) -> DataCheck:
    """Check the folds against the thresholds in `settings`.

    Raises:
        InsufficientDataError: if even the days-late models cannot train (too few
            invoices with a known outcome in the training, validation or test period).
    """
    n_train, n_valid, n_test = (int(m.sum()) for m in (folds.train, folds.valid, folds.test))
    if n_train < settings.min_settled_invoices or n_valid == 0 or n_test == 0:
        raise InsufficientDataError(
            f"too little history to train: {n_train} training rows with a known outcome "
            f"(at least {settings.min_settled_invoices} needed, DUECAST_MIN_SETTLED_INVOICES), "
            f"{n_valid} validation and {n_test} test rows. Outcomes are known only for "
            f"invoices due more than {settings.horizon_days} days before the as-of date "
            "(DUECAST_HORIZON_DAYS): import more history or train at a later --as-of date"
        )
    warnings: list[str] = []
    customers = int(table["customer_id"].nunique())
    if customers < settings.min_customers:
        warnings.append(
            f"only {customers} customers (fewer than {settings.min_customers}): metrics are "
            "noisy and the model learns mostly from invoice features"
        )
    span = (table["issue_date"].max() - table["issue_date"].min()).days if len(table) else 0
    if span < settings.min_history_days:
        warnings.append(
            f"only {span} days of invoice history (less than {settings.min_history_days}): "
            "seasonality is not covered and the test period is short"
        )
    default = table["default"].to_numpy()
    d_train = int(default[folds.train].sum())
    d_valid = int(default[folds.valid].sum())
    d_test = int(default[folds.test].sum())
    reason = None
    if d_train < settings.min_defaults:
        reason = (
            f"the training period holds {d_train} defaults, at least {settings.min_defaults} "
            "are needed (DUECAST_MIN_DEFAULTS); the days-late models are trained, risk of "
            "default falls back to policy defaults"
        )
    elif d_valid < settings.min_validation_defaults:
        reason = (
            f"the validation period holds {d_valid} defaults, at least "
            f"{settings.min_validation_defaults} are needed to calibrate probabilities "
            "(DUECAST_MIN_VALIDATION_DEFAULTS); the days-late models are trained"
        )
    else:
        reason = _one_class_reason(d_train, n_train, d_valid, n_valid)
    if reason is None and d_test == 0:
        warnings.append("the test period holds no defaults: default metrics are undefined")
    elif reason is None and d_test == n_test:
        warnings.append(
            f"the test period holds only defaults ({d_test} of {n_test} rows): ROC AUC and "
            "PR AUC are undefined"
        )
    for message in [*warnings, *([reason] if reason else [])]:
        logger.warning("%s", message)
    return DataCheck(warnings=warnings, default_unavailable_reason=reason)


def _one_class_reason(d_train: int, n_train: int, d_valid: int, n_valid: int) -> str | None:
    """Why the default model cannot train when a period holds only defaults, or None.

    A classifier needs both outcomes to learn and to calibrate; a period where every
    invoice defaulted (often instalments dated after the as-of date) has one.
    """
    for period, defaults, rows, need in (
        ("training", d_train, n_train, "learn from"),
        ("validation", d_valid, n_valid, "calibrate probabilities on"),
    ):
        if defaults == rows:
            return (
                f"the {period} period holds only defaults ({defaults} of {rows} rows): the "
                f"default model needs paid invoices to {need}; the days-late models are "
                "trained. Check for invoices dated in the future or payments not imported"
            )
    return None
