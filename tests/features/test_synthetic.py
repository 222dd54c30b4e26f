"""The generator tells a believable AR story, deterministically, and hides its latent risk."""

from __future__ import annotations

import datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.labels import label_invoices
from features.ledger import ledger_from_frames
from features.synthetic import generate_ledger, write_ledger
from kernel.schema import TABLES

END = datetime.date(2026, 6, 30)
AS_OF = END + datetime.timedelta(days=1)


@cache
def _ledger(seed: int = 5, default_rate: float | None = None) -> dict[str, pd.DataFrame]:
    return generate_ledger(
        customers=400, seed=seed, years=3, end_date=END, default_rate=default_rate
    )


@cache
def _labels(default_rate: float | None = None) -> pd.DataFrame:
    frames = _ledger(default_rate=default_rate)
    labels = label_invoices(ledger_from_frames(frames), as_of=AS_OF, horizon_days=90)
    return labels[labels["mature"]]


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    again = generate_ledger(customers=400, seed=5, years=3, end_date=END)
    for name, frame in _ledger().items():
        pd.testing.assert_frame_equal(frame, again[name])
    other = generate_ledger(customers=400, seed=6, years=3, end_date=END)
    assert not other["invoices"]["amount"].equals(_ledger()["invoices"]["amount"])


def test_tables_have_exactly_the_canonical_columns() -> None:
    for name, frame in _ledger().items():
        assert list(frame.columns) == TABLES[name].column_names, name
        assert frame[TABLES[name].key].is_unique, name


def test_late_and_default_shares_look_like_a_real_ledger() -> None:
    labels = _labels()
    late_share = (labels["days_late"] > 0).mean()
    default_share = labels["default"].mean()
    assert 0.30 <= late_share <= 0.50
    assert 0.01 <= default_share <= 0.08


def test_terms_amounts_and_volume() -> None:
    frames = _ledger()
    invoices = frames["invoices"]
    terms = (invoices["due_date"] - invoices["issue_date"]).dt.days
    assert set(terms.unique()) == {30, 45, 60}
    assert set(frames["customers"]["payment_terms_days"].unique()) <= {30, 45, 60}
    log_amount = np.log(invoices["amount"])
    # Log-normal: the mean is well above the median, the logs are roughly symmetric.
    assert invoices["amount"].mean() > 1.3 * invoices["amount"].median()
    assert abs(log_amount.skew()) < 0.5
    per_customer_year = len(invoices) / 400 / 3
    assert 20 <= per_customer_year <= 45


def test_seasonality_summer_dip_and_autumn_peak() -> None:
    months = _ledger()["invoices"]["issue_date"].dt.month.value_counts()
    assert months[8] < 0.85 * months[11]


def test_partial_payments_disputes_credit_notes_write_offs_actions_all_occur() -> None:
    frames = _ledger()
    payments_per_invoice = frames["payments"]["invoice_id"].value_counts()
    assert (payments_per_invoice > 1).mean() > 0.03
    assert 0.01 < frames["invoices"]["disputed"].mean() < 0.10
    kinds = frames["adjustments"]["kind"].value_counts()
    assert kinds["credit_note"] > 0 and kinds["write_off"] > 0
    assert set(frames["actions"]["kind"]) >= {"reminder", "call", "promise", "dispute", "legal"}
    promises = frames["actions"][frames["actions"]["kind"] == "promise"]
    assert promises["promised_date"].notna().all()


def test_money_adds_up_and_nothing_happens_after_the_end_or_before_issue() -> None:
    frames = _ledger()
    invoices = frames["invoices"].set_index("invoice_id")
    paid = frames["payments"].groupby("invoice_id")["amount"].sum()
    adjusted = frames["adjustments"].groupby("invoice_id")["amount"].sum()
    covered = paid.add(adjusted, fill_value=0.0)
    assert (covered <= invoices["amount"].reindex(covered.index) + 0.005).all()
    end = pd.Timestamp(END)
    for table, column in (("payments", "payment_date"), ("adjustments", "date")):
        frame = frames[table]
        assert (frame[column] <= end).all()
        issue = invoices["issue_date"].reindex(frame["invoice_id"]).to_numpy()
        assert (frame[column].to_numpy() >= issue).all()
    assert (frames["invoices"]["issue_date"] <= end).all()
    # The newest invoices are still open at the end of the history.
    assert covered.reindex(invoices.index).isna().sum() > 0


def test_risk_drifts_some_customers_deteriorate() -> None:
    """Per-customer late share changes between the first and the last year."""
    frames = _ledger()
    labels = _labels().join(frames["invoices"].set_index("invoice_id")[["customer_id"]])
    issue = frames["invoices"].set_index("invoice_id")["issue_date"].reindex(labels.index)
    year = np.where(issue < pd.Timestamp(END) - pd.DateOffset(years=2), "first", "other")
    late = (labels["days_late"] > 7).groupby([labels["customer_id"], year]).mean().unstack()
    change = (late["other"] - late["first"]).dropna()
    assert (change > 0.3).sum() >= 5
    assert (change < -0.3).sum() >= 5


def test_latent_risk_is_not_written(tmp_path: Path) -> None:
    paths = write_ledger(_ledger(), tmp_path)
    for name, path in paths.items():
        header = path.read_text().splitlines()[0].replace('"', "").split(",")
        assert header == TABLES[name].column_names
        assert not any("risk" in column for column in header)


def test_written_csv_uses_iso_dates_and_true_false(tmp_path: Path) -> None:
    paths = write_ledger(_ledger(), tmp_path)
    invoices = pd.read_csv(paths["invoices"], dtype=str, keep_default_na=False)
    assert invoices["issue_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert set(invoices["disputed"]) == {"true", "false"}
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_parquet_round_trip_keeps_values(tmp_path: Path) -> None:
    paths = write_ledger(_ledger(), tmp_path, fmt="parquet")
    back = pd.read_parquet(paths["invoices"])
    assert back["amount"].tolist() == _ledger()["invoices"]["amount"].tolist()


def test_default_rate_zero_gives_a_ledger_without_defaults() -> None:
    frames = _ledger(default_rate=0.0)
    assert not (frames["adjustments"]["kind"] == "write_off").any()
    assert _labels(default_rate=0.0)["default"].sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "customers"),
        ({"customers": 5, "years": 0}, "years"),
        ({"customers": 5, "default_rate": 0.9}, "default_rate"),
    ],
)
def test_bad_arguments_are_rejected_with_a_message(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_ledger(**kwargs)
