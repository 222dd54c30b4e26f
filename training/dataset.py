"""The training data: the as-of cut of the store, time folds by issue date, a fingerprint.

Folds never mix time: train on invoices issued first, validate on the next period
(early stopping, calibration), test on the period after. Invoices whose due date plus
the horizon is not yet before the as-of date are dropped from every fold: only their
early payers have a known outcome, so keeping them would make the last weeks look like
nobody ever defaults (a label bias, not a fact about customers).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.build import KEY_COLUMNS, LABEL_COLUMNS, build_training_table
from features.export import default_as_of, ledger_from_store
from features.ledger import Ledger
from features.spec import FEATURE_COLUMNS
from features.store import get_engine
from kernel.config import Settings
from kernel.errors import ConfigurationError

__all__ = [
    "Folds",
    "data_fingerprint",
    "issue_rows",
    "load_training_table",
    "model_feature_columns",
    "period_mask",
    "settings_folds",
    "time_folds",
]

logger = logging.getLogger(__name__)

# The history baseline reads these columns of the model matrix.
_BASELINE_INPUTS = ("history_share_late", "history_days_late_mean")

# With little history the periods shrink to these shares of the usable span.
_SHRINK_VALID = 0.2
_SHRINK_TEST = 0.2


def load_training_table(
    settings: Settings,
    *,
    as_of: datetime.date | None = None,
    horizon_days: int | None = None,
    snapshot_every_days: int | None = None,
    today: datetime.date | None = None,
) -> tuple[pd.DataFrame, datetime.date, Ledger]:
    """The training table of the store's ledger cut at `as_of` (default: after its last event).

    Training and `duecast features` both read the store through this function.

    Args:
        settings: the store, and the horizon and snapshot interval used by default.
        as_of: cut date (default: the day after the store's last event dated on or
            before `today`; see `features.export.default_as_of`).
        horizon_days: the default horizon instead of `settings.horizon_days`.
        snapshot_every_days: the snapshot interval instead of the settings' (0: issue
            date only).
        today: the date rows after which are left out of the default as-of date (tests).

    Returns:
        (table, as_of, ledger) with the table of `features.build.build_training_table`.
    """
    ledger = ledger_from_store(get_engine(settings.database_url))
    as_of = as_of or default_as_of(ledger, today=today)
    if snapshot_every_days is None:
        snapshot_every_days = settings.training_snapshot_every_days
    table = build_training_table(
        ledger,
        as_of=as_of,
        horizon_days=horizon_days or settings.horizon_days,
        snapshot_every_days=snapshot_every_days or None,
    )
    return table, as_of, ledger


@dataclass(frozen=True)
class Folds:
    """Boolean row masks of a table and the issue-date periods they cover.

    Periods are [start, end) ISO dates. `excluded` counts rows dropped because their
    outcome was not complete at the as-of date.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_period: tuple[str, str]
    valid_period: tuple[str, str]
    test_period: tuple[str, str]
    excluded: int

    def as_dict(self) -> dict:
        """Periods and row counts (for the evaluation report)."""
        return {
            "train_period": list(self.train_period),
            "valid_period": list(self.valid_period),
            "test_period": list(self.test_period),
            "excluded_incomplete": self.excluded,
        }


def model_feature_columns(excluded: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The features the models learn from: the feature spec's, less `excluded`.

    Raises:
        ConfigurationError: an excluded name is not a feature, or the baselines need it.
    """
    unknown = sorted(set(excluded) - set(FEATURE_COLUMNS))
    if unknown:
        raise ConfigurationError(
            f"DUECAST_TRAIN_EXCLUDE_FEATURES names unknown features {unknown}: choose among "
            f"{', '.join(FEATURE_COLUMNS)}"
        )
    needed = sorted(set(excluded) & set(_BASELINE_INPUTS))
    if needed:
        raise ConfigurationError(
            f"DUECAST_TRAIN_EXCLUDE_FEATURES cannot leave out {needed}: the history baseline "
            "the models are compared with reads them"
        )
    return [c for c in FEATURE_COLUMNS if c not in set(excluded)]


def time_folds(
    table: pd.DataFrame,
    *,
    as_of: datetime.date,
    horizon_days: int,
    valid_days: int,
    test_days: int,
) -> Folds:
    """Train / valid / test masks by issue date: train < valid < test, never random.

    The test period ends with the last issue date whose outcome is complete at `as_of`
    (due date + horizon before it). With less history than two periods plus as much
    again for training, the periods shrink to a fifth of the usable span each.
    """
    cut = pd.Timestamp(as_of)
    issue = table["issue_date"]
    complete = (table["due_date"] + pd.Timedelta(days=horizon_days) < cut).to_numpy()
    if not complete.any():
        empty = np.zeros(len(table), dtype=bool)
        period = (str(as_of), str(as_of))
        return Folds(empty, empty, empty, period, period, period, len(table))
    first = issue[complete].min().normalize()
    end = issue[complete].max().normalize() + pd.Timedelta(days=1)
    span = (end - first).days
    if span < 2 * (valid_days + test_days):
        valid_days = max(1, int(span * _SHRINK_VALID))
        test_days = max(1, int(span * _SHRINK_TEST))
        logger.warning(
            "Only %d days of complete history: validation and test periods shrink to %d and "
            "%d days",
            span,
            valid_days,
            test_days,
        )
    test_start = end - pd.Timedelta(days=test_days)
    valid_start = test_start - pd.Timedelta(days=valid_days)
    issue_np = issue.to_numpy()
    train = complete & (issue_np < valid_start.to_datetime64())
    valid = (
        complete
        & (issue_np >= valid_start.to_datetime64())
        & (issue_np < test_start.to_datetime64())
    )
    test = complete & (issue_np >= test_start.to_datetime64())

    def _iso(ts: pd.Timestamp) -> str:
        return ts.date().isoformat()

    return Folds(
        train=train,
        valid=valid,
        test=test,
        train_period=(_iso(first), _iso(valid_start)),
        valid_period=(_iso(valid_start), _iso(test_start)),
        test_period=(_iso(test_start), _iso(end)),
        excluded=int((~complete).sum()),
    )


def settings_folds(table: pd.DataFrame, *, as_of: datetime.date, settings: Settings) -> Folds:
    """`time_folds` with the horizon and periods of `settings`."""
    return time_folds(
        table,
        as_of=as_of,
        horizon_days=settings.horizon_days,
        valid_days=settings.backtest_valid_days,
        test_days=settings.backtest_test_days,
    )


def period_mask(
    table: pd.DataFrame,
    period: tuple[str, str] | list[str],
    *,
    as_of: datetime.date,
    horizon_days: int,
) -> np.ndarray:
    """Rows issued in [start, end) whose outcome is complete at `as_of` (a run's test rows)."""
    start, end = (pd.Timestamp(d) for d in period)
    issue = table["issue_date"]
    complete = table["due_date"] + pd.Timedelta(days=horizon_days) < pd.Timestamp(as_of)
    return (complete & (issue >= start) & (issue < end)).to_numpy()


def issue_rows(table: pd.DataFrame) -> np.ndarray:
    """Mask of rows snapshotted at their issue date (one per invoice).

    Metrics are computed on these: later snapshots of the same invoice would count its
    amount twice in the capture metric and weigh slow payers more.
    """
    return (table["snapshot_date"] == table["issue_date"]).to_numpy()


def data_fingerprint(table: pd.DataFrame) -> dict:
    """Rows, invoices, customers, issue-date range and a content hash of keys and labels."""
    columns = [*KEY_COLUMNS, *LABEL_COLUMNS]
    hashed = pd.util.hash_pandas_object(table[columns], index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes()).hexdigest()[:16]
    return {
        "rows": len(table),
        "invoices": int(table["invoice_id"].nunique()),
        "customers": int(table["customer_id"].nunique()),
        "first_issue": None if table.empty else table["issue_date"].min().date().isoformat(),
        "last_issue": None if table.empty else table["issue_date"].max().date().isoformat(),
        "hash": digest,
    }
