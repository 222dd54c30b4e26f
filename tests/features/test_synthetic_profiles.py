"""Ledger profiles of the generator: seeded, true to what they promise, importable."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.importing import import_directory
from features.labels import label_invoices
from features.ledger import ledger_from_frames
from features.store import get_engine
from features.synthetic import generate_ledger, write_ledger
from features.synthetic_profiles import PROFILES, get_profile
from kernel.errors import ConfigurationError

END = dt.date(2026, 3, 31)
AS_OF = END + dt.timedelta(days=1)
# Small sizes: every property below still shows, and each ledger takes well under a second.
SIZES = {"default": 40, "thin": 100, "many-counterparties": 600, "instalments": 120}


@cache
def _ledger(profile: str, seed: int = 2) -> dict[str, pd.DataFrame]:
    return generate_ledger(customers=SIZES[profile], profile=profile, seed=seed, end_date=END)


@cache
def _labels(profile: str) -> pd.DataFrame:
    return label_invoices(ledger_from_frames(_ledger(profile)), as_of=AS_OF, horizon_days=90)


def _payments_with_invoices(profile: str) -> pd.DataFrame:
    frames = _ledger(profile)
    return frames["payments"].merge(
        frames["invoices"][["invoice_id", "issue_date", "due_date"]], on="invoice_id"
    )


@pytest.mark.parametrize("profile", list(PROFILES))
def test_each_profile_is_seeded(profile: str) -> None:
    again = generate_ledger(customers=SIZES[profile], profile=profile, seed=2, end_date=END)
    for name, frame in _ledger(profile).items():
        pd.testing.assert_frame_equal(frame, again[name])
    other = _ledger(profile, seed=3)
    assert not other["invoices"]["amount"].equals(_ledger(profile)["invoices"]["amount"])


def test_default_profile_is_the_generator_without_a_profile() -> None:
    plain = generate_ledger(customers=40, seed=2, years=3.0, end_date=END)
    for name, frame in _ledger("default").items():
        pd.testing.assert_frame_equal(frame, plain[name])


def test_profile_defaults_apply_and_explicit_arguments_win() -> None:
    thin = get_profile("thin")
    frames = generate_ledger(profile="thin", seed=1, end_date=END)
    assert len(frames["customers"]) == thin.customers
    first = frames["invoices"]["issue_date"].min()
    assert pd.Timestamp(END) - first > pd.Timedelta(days=300 * thin.years)
    assert pd.Timestamp(END) - first < pd.Timedelta(days=366 * thin.years)
    smaller = generate_ledger(customers=7, years=0.5, profile="thin", seed=1, end_date=END)
    assert len(smaller["customers"]) == 7


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="many-counterparties"):
        generate_ledger(customers=5, profile="tiny", end_date=END)


def test_thin_has_fixed_terms_small_amounts_and_no_defaults() -> None:
    frames = _ledger("thin")
    invoices = frames["invoices"]
    assert set((invoices["due_date"] - invoices["issue_date"]).dt.days) == {30}
    assert set(frames["customers"]["payment_terms_days"]) == {30}
    assert invoices["amount"].median() < 0.5 * _ledger("default")["invoices"]["amount"].median()
    assert not (frames["adjustments"]["kind"] == "write_off").any()
    labels = _labels("thin")
    assert labels["mature"].sum() > 1000
    assert labels["default"].sum() == 0
    # No invoice is left unpaid past due + 90 days at the end of the history.
    due = invoices.set_index("invoice_id")["due_date"].reindex(labels.index)
    overdue = labels["settled_date"].isna() & (due + pd.Timedelta(days=90) < pd.Timestamp(END))
    assert not overdue.any()


def test_thin_lateness_is_mostly_the_customers_habit() -> None:
    def customer_share(profile: str) -> float:
        labels = _labels(profile)
        known = labels[labels["mature"]].join(
            _ledger(profile)["invoices"].set_index("invoice_id")["customer_id"]
        )
        days = known["days_late"]
        within = days - days.groupby(known["customer_id"]).transform("mean")
        return 1.0 - float((within**2).sum() / ((days - days.mean()) ** 2).sum())

    assert customer_share("thin") > 0.5
    assert customer_share("thin") > customer_share("default") + 0.2


def test_many_counterparties_sees_three_quarters_of_customers_once() -> None:
    frames = _ledger("many-counterparties")
    per_customer = frames["invoices"]["customer_id"].value_counts()
    assert len(per_customer) > 0.95 * SIZES["many-counterparties"]
    assert abs((per_customer == 1).mean() - 0.75) <= 0.05


def test_many_counterparties_leaves_partial_remainders_unpaid_and_pays_late() -> None:
    frames = _ledger("many-counterparties")
    invoices = frames["invoices"].set_index("invoice_id")
    adjustments = frames["adjustments"]
    paid = frames["payments"].groupby("invoice_id")["amount"].sum()
    covered = paid.add(adjustments.groupby("invoice_id")["amount"].sum(), fill_value=0.0)
    written_off = set(adjustments.query("kind == 'write_off'")["invoice_id"])
    due = invoices["due_date"].reindex(paid.index)
    partly = (covered.reindex(paid.index) < invoices["amount"].reindex(paid.index) - 0.01) & (
        due + pd.Timedelta(days=90) < pd.Timestamp(END)
    )
    # Partly paid long ago, never finished and never written off: a default by the rule.
    unpaid_remainders = partly[partly].index.difference(list(written_off))
    assert len(unpaid_remainders) >= 20
    labels = _labels("many-counterparties")
    assert labels.loc[unpaid_remainders, "default"].all()
    mature = labels[labels["mature"]]
    default_days = _labels("default").query("mature")["days_late"]
    assert mature["days_late"].mean() > default_days.mean() + 5


def test_instalments_have_future_due_dates_plans_and_early_payments() -> None:
    frames = _ledger("instalments")
    invoices = frames["invoices"]
    end = pd.Timestamp(END)
    assert (invoices["issue_date"] <= end).all()
    assert (invoices["due_date"] > end).sum() >= 100
    # A schedule: instalments issued on one day, due a month apart.
    schedules = invoices.groupby(["customer_id", "issue_date"])["due_date"]
    assert (schedules.size() == get_profile("instalments").instalments).all()
    assert (schedules.nunique() == schedules.size()).all()
    payments = _payments_with_invoices("instalments")
    # Payment plans: three payments or more (without plans an invoice gets at most two).
    per_invoice = payments["invoice_id"].value_counts()
    assert (per_invoice >= 3).sum() >= 20
    early = payments["payment_date"] < payments["due_date"]
    assert early.mean() > 0.3
    # Whole schedules paid in advance: fully paid months before the instalment is due.
    last = payments.groupby("invoice_id").agg(
        paid=("payment_date", "max"), due=("due_date", "first")
    )
    assert ((last["due"] - last["paid"]).dt.days > 150).sum() >= 20


@pytest.mark.parametrize("profile", list(PROFILES))
def test_money_and_dates_stay_inside_the_rules(profile: str) -> None:
    frames = _ledger(profile)
    invoices = frames["invoices"].set_index("invoice_id")
    covered = (
        frames["payments"]
        .groupby("invoice_id")["amount"]
        .sum()
        .add(frames["adjustments"].groupby("invoice_id")["amount"].sum(), fill_value=0.0)
    )
    assert (covered <= invoices["amount"].reindex(covered.index) + 0.005).all()
    assert (frames["payments"]["amount"] > 0).all()
    payments = _payments_with_invoices(profile)
    assert (payments["payment_date"] >= payments["issue_date"]).all()
    assert (payments["payment_date"] <= pd.Timestamp(END)).all()
    assert (frames["adjustments"]["date"] <= pd.Timestamp(END)).all()
    assert np.isfinite(invoices["amount"]).all()


@pytest.mark.parametrize("profile", list(PROFILES))
def test_each_profile_imports_cleanly(profile: str, tmp_path: Path, sqlite_url: str) -> None:
    frames = _ledger(profile)
    write_ledger(frames, tmp_path / "ledger")
    engine = get_engine(sqlite_url)
    summary = import_directory(engine, tmp_path / "ledger")
    for name, counts in summary.tables.items():
        assert counts.rejected == 0, name
        assert counts.inserted == len(frames[name]), name
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT COUNT(*) FROM payments")).scalar_one()
    assert stored == len(frames["payments"])
