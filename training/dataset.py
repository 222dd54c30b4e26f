"""The training data: the as-of cut of the store, the model's feature columns, a fingerprint.

The time windows the backtest learns and tests on are `training.folds`.
"""

from __future__ import annotations

import datetime
import hashlib
import logging

import numpy as np
import pandas as pd

from features.build import KEY_COLUMNS, LABEL_COLUMNS, attribute_columns, build_training_table
from features.export import default_as_of, ledger_from_store
from features.ledger import Ledger
from features.spec import FEATURE_COLUMNS
from features.spec_attributes import is_categorical
from features.store import get_engine
from kernel.config import Settings
from kernel.errors import ConfigurationError

__all__ = [
    "data_fingerprint",
    "issue_rows",
    "load_training_table",
    "model_feature_columns",
    "model_inputs",
    "period_mask",
]

logger = logging.getLogger(__name__)

# The history baseline reads these columns of the model matrix.
_BASELINE_INPUTS = ("history_share_late", "history_days_late_mean")


def load_training_table(
    settings: Settings,
    *,
    as_of: datetime.date | None = None,
    horizon_days: int | None = None,
    snapshot_every_days: int | None = None,
    today: datetime.date | None = None,
    include_open: bool = False,
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
        include_open: also the rows of invoices whose outcome is not known yet (censored
            rows for the hazard model; see `features.build.build_training_table`).

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
        very_late_days=settings.very_late_days,
        include_open=include_open,
    )
    return table, as_of, ledger


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


def model_inputs(
    table: pd.DataFrame, excluded: list[str] | tuple[str, ...] = ()
) -> tuple[list[str], dict[str, list[str]]]:
    """The model's feature columns and the categories of its categorical ones.

    The spec's features (less `excluded`, see `model_feature_columns`), then the
    issue-time attribute features the table carries (`features.attributes`); the
    categories are the table's, as text, for every categorical column among them.
    """
    names = [*model_feature_columns(excluded), *attribute_columns(table)]
    categories = {c: [str(v) for v in table[c].cat.categories] for c in names if is_categorical(c)}
    return names, categories


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
