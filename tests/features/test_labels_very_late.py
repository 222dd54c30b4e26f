"""The very-late label: a default, or a settlement more than V days after due."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.build import LABEL_COLUMNS, build_training_table
from features.labels import label_invoices, very_late_at
from features.ledger import ledger_from_frames
from features.synthetic import generate_ledger
from kernel.config import Settings
from tests.features.test_labels import make_ledger

D = dt.date
DUE = "2024-01-31"


def _labels(payments: list[tuple[str, str, float]], **kwargs: object) -> pd.Series:
    """Labels of one 100.00 invoice due 2024-01-31, as of 2024-12-01 unless told."""
    ledger = make_ledger([("i1", "2024-01-01", DUE, 100.0)], payments)
    as_of = kwargs.pop("as_of", D(2024, 12, 1))
    return label_invoices(ledger, as_of=as_of, **kwargs).loc["i1"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("paid_on", "very_late"),
    [
        ("2024-01-20", 0),  # early
        ("2024-03-01", 0),  # exactly 30 days late: not more than V
        ("2024-03-02", 1),  # 31 days late
        ("2024-04-10", 1),  # 70 days late, not a default
    ],
)
def test_very_late_is_a_settlement_more_than_v_days_after_due(paid_on: str, very_late: int) -> None:
    row = _labels([("i1", paid_on, 100.0)], very_late_days=30)
    assert row["default"] == 0
    assert row["very_late"] == very_late


def test_v_moves_the_line() -> None:
    paid = [("i1", "2024-02-20", 100.0)]  # 20 days late
    assert _labels(paid, very_late_days=20)["very_late"] == 0
    assert _labels(paid, very_late_days=19)["very_late"] == 1


def test_defaults_and_write_offs_are_very_late() -> None:
    assert _labels([])["default"] == 1
    assert _labels([])["very_late"] == 1
    ledger = make_ledger(
        [("i1", "2024-01-01", DUE, 100.0)],
        [("i1", "2024-01-15", 30.0)],
        [("i1", "2024-02-05", 70.0, "write_off")],  # written off 5 days after due
    )
    row = label_invoices(ledger, as_of=D(2024, 3, 1)).loc["i1"]
    assert (row["default"], row["very_late"]) == (1, 1)


def test_very_late_is_unknown_until_the_outcome_is_mature() -> None:
    """Like default: 0 while immature, even when already more than V days overdue."""
    row = _labels([], as_of=D(2024, 4, 1))  # 61 days overdue, horizon 90 not reached
    assert not row["mature"]
    assert (row["default"], row["very_late"]) == (0, 0)


def test_very_late_days_must_be_positive() -> None:
    with pytest.raises(ValueError, match="very_late_days"):
        _labels([], very_late_days=0)


def test_very_late_at_recomputes_the_label_from_table_columns() -> None:
    days_late = pd.Series([-3.0, 30.0, 31.0, 90.0, np.nan])
    default = pd.Series([0, 0, 0, 1, 0])
    assert very_late_at(days_late, default, 30).tolist() == [0, 0, 1, 1, 0]
    assert very_late_at(days_late.to_numpy(), default.to_numpy(), 2).tolist() == [0, 1, 1, 1, 0]


def test_training_table_carries_very_late_consistent_with_its_columns() -> None:
    frames = generate_ledger(customers=12, seed=3, years=1.0, end_date=D(2025, 6, 30))
    ledger = ledger_from_frames(frames)
    as_of = D(2025, 7, 1)
    table = build_training_table(ledger, as_of=as_of, horizon_days=90, very_late_days=15)
    assert list(table.columns[-len(LABEL_COLUMNS) :]) == LABEL_COLUMNS
    assert table["very_late"].dtype == "int64"
    expected = very_late_at(table["days_late"], table["default"], 15)
    np.testing.assert_array_equal(table["very_late"].to_numpy(), expected)
    # A target distinct from default: some very late invoices were paid in the end.
    assert ((table["very_late"] == 1) & (table["default"] == 0)).any()
    assert (table["very_late"] >= table["default"]).all()


def test_setting_defaults_to_30_and_must_lie_below_the_horizon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().very_late_days == 30
    monkeypatch.setenv("DUECAST_VERY_LATE_DAYS", "45")
    assert Settings().very_late_days == 45
    monkeypatch.setenv("DUECAST_HORIZON_DAYS", "45")
    with pytest.raises(ValidationError, match=r"DUECAST_VERY_LATE_DAYS.*DUECAST_HORIZON_DAYS"):
        Settings()
    monkeypatch.setenv("DUECAST_VERY_LATE_DAYS", "0")
    with pytest.raises(ValidationError, match="very_late_days"):
        Settings()
