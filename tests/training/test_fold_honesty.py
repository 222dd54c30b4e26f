"""Fold honesty: a rolling-origin window learns only what was known at its cut-off.

The property (issue 14, point 1): editing anything dated on or after a window's cut-off
(payments, write-offs, credit notes, disputes, actions, invoices, customers) never
changes that window's training or validation rows, their features, labels and
censoring, nor the LightGBM models fitted on them. The contrast test shows the same
kind of edit does change the training labels of the old rule (`time_folds`: rows
complete at the as-of date issued before the validation start), which is why the
windows keep only rows whose outcome window closed before the cut-off.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, example, given, note, settings

from tests.training.fold_support import (
    AS_OF,
    CUTOFF,
    EDIT_KINDS,
    HORIZON,
    LABELS,
    NEW_INDUSTRY,
    Edit,
    apply_edits,
    base_ledger,
    base_table,
    drop_payment,
    fit_predictions,
    fold_slice,
    late_edits,
    training_table,
    window,
)
from training.folds import censoring_at


@lru_cache(maxsize=1)
def _base_predictions() -> dict[str, np.ndarray]:
    table = base_table()
    w = window(table, CUTOFF)
    return fit_predictions(table, w, _fixed_rows())


@lru_cache(maxsize=1)
def _fixed_rows() -> pd.DataFrame:
    """The rows every fitted model predicts: the unedited window's test rows."""
    table = base_table()
    return table[window(table, CUTOFF).test].reset_index(drop=True)


def _assert_same_fold(edited: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """The window of `edited` at `cutoff` has the unedited window's rows, values, periods."""
    base = base_table()
    before, after = window(base, cutoff), window(edited, cutoff)
    assert (before.train_period, before.valid_period) == (after.train_period, after.valid_period)
    for part in ("train", "valid"):
        pd.testing.assert_frame_equal(
            fold_slice(base, getattr(before, part), cutoff),
            fold_slice(edited, getattr(after, part), cutoff),
            obj=f"{part} rows",
        )


def test_the_window_is_big_enough_to_mean_something() -> None:
    w = window(base_table(), CUTOFF)
    rows = w.rows()
    assert rows["train"] >= 300 and rows["valid"] >= 100 and rows["test"] >= 100
    table = base_table()
    # Both classes in both slices, or the risk fit would be a constant.
    assert 0 < table["default"][w.train].sum() < rows["train"]
    assert 0 < table["default"][w.valid].sum() < rows["valid"]


# No shrinking: every example rebuilds a training table (about a second), so a shrink
# would take minutes, and a failing list of at most six edits reads well as it is.
@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(edits=late_edits())
# Always tried: every early invoice paid, or every late payment dropped and the rest
# written off, on the cut-off day itself (an off-by-one in the fold rule shows here).
@example(edits=[("settle_all", 0, 0, 1.0)])
@example(edits=[("drop_all_payments", 0, 0, 0.0), ("write_off_all", 0, 0, 1.0)])
def test_edits_after_the_cutoff_never_change_the_window(edits: list[Edit]) -> None:
    edited = training_table(apply_edits(base_ledger(), CUTOFF, edits))
    note(f"edited table: {len(edited)} rows (unedited {len(base_table())})")
    _assert_same_fold(edited, CUTOFF)
    predictions = fit_predictions(edited, window(edited, CUTOFF), _fixed_rows())
    for name, expected in _base_predictions().items():
        np.testing.assert_array_equal(predictions[name], expected, err_msg=name)


def test_every_kind_of_edit_changes_the_table_but_not_the_window() -> None:
    # Not vacuous: the same edits do reach the table after the cut-off.
    edits = [(kind, 37 * k + 5, 11 * k + 3, 0.5) for k, kind in enumerate(EDIT_KINDS)]
    edited = training_table(apply_edits(base_ledger(), CUTOFF, edits))
    base = base_table()
    columns = ["invoice_id", "snapshot_date", *LABELS]
    assert not edited[columns].equals(base[columns])
    # The new customer's industry sorts first: every other code of the table moves.
    assert edited["customer_industry"].cat.categories[0] == NEW_INDUSTRY
    _assert_same_fold(edited, CUTOFF)


def _settling_payment(table: pd.DataFrame, train: np.ndarray, cutoff: pd.Timestamp) -> Edit:
    """Dropping the payment, dated on or after `cutoff`, that settled within H an invoice
    of the old rule's training rows whose outcome window was still open at `cutoff`."""
    rows = table[train]
    open_window = rows["due_date"] + pd.Timedelta(days=HORIZON) >= cutoff
    in_time = (rows["settled_date"] >= cutoff) & (rows["days_late"] < HORIZON)
    targets = rows[open_window & in_time]
    assert len(targets), "the old rule has no training invoice settled after its cut-off"
    target = targets.iloc[0]
    payments = base_ledger().payments
    settling = payments[
        (payments["invoice_id"] == target["invoice_id"])
        & (payments["payment_date"] == target["settled_date"])
    ]
    return drop_payment(base_ledger(), cutoff, str(settling["payment_id"].iloc[0]))


@dataclass(frozen=True)
class _OldFolds:
    train: np.ndarray
    valid_period: tuple[str, str]


def time_folds(
    table: pd.DataFrame, *, as_of: dt.date, horizon_days: int, valid_days: int, test_days: int
) -> _OldFolds:
    """The rule the backtest used before issue 14, kept here as the counter-example.

    Training rows were those whose outcome was complete at the *as-of date* and that
    were issued before the validation start: their labels could come from events after
    that start.
    """
    complete = (
        table["due_date"] + pd.Timedelta(days=horizon_days) < pd.Timestamp(as_of)
    ).to_numpy()
    end = table["issue_date"][complete].max().normalize() + pd.Timedelta(days=1)
    valid_start = end - pd.Timedelta(days=test_days + valid_days)
    train = complete & (table["issue_date"] < valid_start).to_numpy()
    return _OldFolds(train, (valid_start.date().isoformat(), ""))


def _old_train(table: pd.DataFrame) -> pd.DataFrame:
    """Keys and labels of the old rule's training rows (`time_folds`)."""
    folds = time_folds(table, as_of=AS_OF, horizon_days=HORIZON, valid_days=90, test_days=90)
    rows = table.loc[folds.train, ["invoice_id", "snapshot_date", *LABELS]]
    return rows.reset_index(drop=True)


@pytest.mark.parametrize("single", [True, False], ids=["one-payment", "every-payment"])
def test_the_old_rule_learns_labels_from_after_its_cutoff(single: bool) -> None:
    base = base_table()
    old = time_folds(base, as_of=AS_OF, horizon_days=HORIZON, valid_days=90, test_days=90)
    cutoff = pd.Timestamp(old.valid_period[0])
    edit = (
        _settling_payment(base, old.train, cutoff) if single else ("drop_all_payments", 0, 0, 0.0)
    )
    edited = training_table(apply_edits(base_ledger(), cutoff, [edit]))
    before, after = _old_train(base), _old_train(edited)
    # The old rule's training slice changes: labels, and with them the snapshots of
    # invoices now open for longer.
    at_issue = ["invoice_id", *LABELS]
    first_before = before.drop_duplicates("invoice_id")[at_issue].reset_index(drop=True)
    first_after = after.drop_duplicates("invoice_id")[at_issue].reset_index(drop=True)
    assert first_before["invoice_id"].equals(first_after["invoice_id"])
    changed = (first_before[LABELS] != first_after[LABELS]).any(axis=1)
    assert changed.any(), "no training label of the old rule depends on the dropped payments"
    # The window at the same cut-off is blind to the edit.
    _assert_same_fold(edited, cutoff)


DUE = pd.Timestamp("2024-03-01")
CUT = pd.Timestamp("2024-06-01")


@pytest.mark.parametrize(
    ("settled_date", "stop", "settled"),
    [
        pytest.param("2024-03-11", 10.0, True, id="settled-before-cutoff"),
        pytest.param("2024-02-20", -10.0, True, id="settled-early"),
        pytest.param("2024-05-31", 90.0, False, id="settled-past-horizon"),
        pytest.param(None, 90.0, False, id="unsettled-past-horizon"),
    ],
)
def test_censoring_at_an_old_invoice(settled_date: str | None, stop: float, settled: bool) -> None:
    table = pd.DataFrame(
        {"due_date": [DUE], "settled_date": pd.to_datetime([settled_date]).astype("datetime64[ns]")}
    )
    got_stop, got_settled = censoring_at(table, CUT, horizon_days=HORIZON)
    assert (got_stop[0], bool(got_settled[0])) == (stop, settled)


@pytest.mark.parametrize(
    ("settled_date", "stop", "settled"),
    [
        pytest.param("2024-05-20", 19.0, True, id="settled-before"),
        pytest.param("2024-05-31", 30.0, True, id="settled-the-day-before"),
        pytest.param("2024-06-01", 30.0, False, id="settled-on-the-cutoff"),
        pytest.param("2024-07-15", 30.0, False, id="settled-after"),
        pytest.param(None, 30.0, False, id="unsettled"),
    ],
)
def test_censoring_at_a_recent_invoice(
    settled_date: str | None, stop: float, settled: bool
) -> None:
    # Due 2024-05-01: the cut-off has seen its first 30 days late (up to 2024-05-31).
    table = pd.DataFrame(
        {
            "due_date": [pd.Timestamp("2024-05-01")],
            "settled_date": pd.to_datetime([settled_date]).astype("datetime64[ns]"),
        }
    )
    got_stop, got_settled = censoring_at(table, CUT, horizon_days=HORIZON)
    assert (got_stop[0], bool(got_settled[0])) == (stop, settled)
