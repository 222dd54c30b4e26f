"""Cold start: customers without history get explicit flags, never silent zeros or NaN
where the feature spec promises a value, and the model still scores them."""

from __future__ import annotations

import datetime as dt

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import (
    DEFAULT_TERMS_DAYS,
    build_new_invoice_rows,
    build_open_invoice_rows,
    build_training_table,
    customer_state,
    new_invoice_rows_from_state,
)
from features.ledger import ledger_from_frames
from features.spec import (
    CUSTOMER_FEATURE_COLUMNS,
    FEATURE_COLUMNS,
    FEATURE_SPEC,
    check_feature_frame,
)
from features.synthetic import generate_ledger
from tests.utils.ledger_factory import LedgerSpec, day, ledger_specs

AS_OF = day(200)
NULLABLE = [f.name for f in FEATURE_SPEC if f.nullable]
# History features that exist exactly when at least one invoice has been paid.
PAID_HISTORY = [
    "history_days_late_mean",
    "history_days_late_median",
    "history_days_late_max",
    "history_days_late_recent",
    "history_share_late",
    "history_share_late_over_30",
    "history_last_days_late",
]

SPEC = LedgerSpec(
    customers=[
        ("c_old", 0, 5000.0, 30, "retail", "DE"),
        ("c_fresh", 190, 2000.0, 30, "retail", "FR"),
        ("c_open", 150, None, None, None, None),
        ("c_zero_limit", 100, 0.0, 14, "construction", "DE"),
        ("c_today", 200, 1000.0, 45, "retail", "DE"),
    ],
    invoices=[
        ("i1", "c_old", 0, 30, 100.0, None),
        ("i2", "c_old", 40, 30, 300.0, None),
        ("i3", "c_open", 160, 30, 250.0, None),
        ("i4", "c_zero_limit", 100, 14, 55.5, None),
    ],
    payments=[("i1", 20, 100.0), ("i2", 75, 300.0), ("i4", 110, 55.5)],
)


def _numeric_values(frame: pd.DataFrame) -> np.ndarray:
    numeric = [c for c in FEATURE_COLUMNS if frame[c].dtype.kind in "fiu"]
    return frame[numeric].to_numpy(dtype="float64")


def _assert_model_ready(frame: pd.DataFrame) -> None:
    """The spec holds (NaN only in nullable columns) and no value is infinite."""
    check_feature_frame(frame)
    values = _numeric_values(frame)
    assert not np.isinf(values).any(), "an infinite feature value"


def test_customers_without_paid_invoices_are_flagged_and_their_history_is_unknown() -> None:
    state = customer_state(SPEC.ledger(), as_of=AS_OF)
    assert set(state.index) == {"c_old", "c_fresh", "c_open", "c_zero_limit", "c_today"}
    cold = state.loc[["c_fresh", "c_open", "c_today"]]
    assert (cold["customer_no_payment_history"] == 1).all()
    assert (cold["history_settled_count"] == 0).all()
    # Unknown, not zero: a customer without history is not a customer who pays on time.
    assert cold[PAID_HISTORY].isna().all().all()
    assert cold["history_partial_payment_share"].isna().all()
    assert cold["history_default_share"].isna().all()
    assert cold["exposure_days_since_last_payment"].isna().all()
    assert (cold["customer_is_new"] == 1).all()
    assert state.loc["c_fresh", "customer_tenure_days"] == 10
    assert state.loc["c_today", "customer_tenure_days"] == 0

    old = state.loc["c_old"]
    assert (old["customer_no_payment_history"], old["customer_is_new"]) == (0, 0)
    assert old["history_days_late_mean"] == pytest.approx(-2.5)  # -10 and +5 days
    assert old["history_settled_count"] == 2


def test_new_order_rows_of_cold_start_customers_are_model_ready() -> None:
    ids = ["c_old", "c_fresh", "c_open", "c_zero_limit", "c_today"]
    orders = pd.DataFrame({"customer_id": ids, "amount": [120.0] * len(ids)})
    rows = build_new_invoice_rows(SPEC.ledger(), orders=orders, as_of=AS_OF).set_index(
        "customer_id"
    )
    _assert_model_ready(rows)
    # No usual invoice size yet: the ratio is unknown, not 1 or 0.
    assert np.isnan(rows.loc["c_fresh", "invoice_amount_vs_usual"])
    assert rows.loc["c_old", "invoice_amount_vs_usual"] == pytest.approx(120.0 / 200.0)
    # No or zero credit limit: utilisation unknown, never infinite.
    assert np.isnan(rows.loc["c_open", "exposure_credit_utilisation"])
    assert np.isnan(rows.loc["c_zero_limit", "exposure_credit_utilisation"])
    assert rows.loc["c_open", "exposure_open_amount"] == 250.0
    assert rows.loc["c_fresh", "exposure_open_amount"] == 0.0
    # Terms fall back to the customer's, then to the default.
    assert rows.loc["c_open", "invoice_terms_days"] == DEFAULT_TERMS_DAYS
    assert rows.loc["c_today", "invoice_terms_days"] == 45
    # Unknown attributes are missing categories, which LightGBM treats as their own bucket.
    assert pd.isna(rows.loc["c_open", "customer_industry"])


def test_open_invoice_rows_and_training_rows_of_new_customers_are_model_ready() -> None:
    ledger = SPEC.ledger()
    open_rows = build_open_invoice_rows(ledger, as_of=AS_OF)
    _assert_model_ready(open_rows)
    assert open_rows["invoice_id"].tolist() == ["i3"]
    assert open_rows["customer_no_payment_history"].tolist() == [1]

    table = build_training_table(ledger, as_of=day(400), snapshot_every_days=10)
    _assert_model_ready(table)
    first = table.sort_values("snapshot_date").drop_duplicates("customer_id")
    assert (first["customer_no_payment_history"] == 1).all()
    assert (first["customer_invoice_count"] == 0).all()


COLD = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COLD
@given(spec=ledger_specs(consistent=False), cut=st.integers(0, 250))
def test_every_builder_gives_model_ready_rows_with_consistent_flags(
    spec: LedgerSpec, cut: int
) -> None:
    ledger = spec.ledger()
    as_of = day(cut)
    state = customer_state(ledger, as_of=as_of)
    frames = [
        build_training_table(ledger, as_of=day(400), snapshot_every_days=13),
        build_open_invoice_rows(ledger, as_of=as_of),
        new_invoice_rows_from_state(
            state, orders=pd.DataFrame({"customer_id": state.index, "amount": 99.0}), as_of=as_of
        ),
    ]
    for frame in frames:
        _assert_model_ready(frame)
        no_history = frame["customer_no_payment_history"] == 1
        assert (no_history == (frame["history_settled_count"] == 0)).all()
        assert (frame.loc[no_history, PAID_HISTORY].isna()).all().all()
        assert (frame.loc[~no_history, PAID_HISTORY].notna()).all().all()
        new = frame["customer_is_new"] == 1
        assert (new == (frame["customer_tenure_days"] < 90)).all()
    assert set(CUSTOMER_FEATURE_COLUMNS) <= set(state.columns)


def test_a_model_trained_on_the_table_scores_cold_start_orders() -> None:
    """NaN history and missing categories go through LightGBM to finite probabilities."""
    end = dt.date(2025, 6, 30)
    frames = generate_ledger(customers=40, seed=3, years=1.5, end_date=end)
    brand_new = pd.DataFrame(
        {
            "customer_id": ["NEW-1", "NEW-2"],
            "name": ["New One", "New Two"],
            "country": ["DE", None],
            "industry": [None, "retail"],
            "created_at": [pd.Timestamp(end), pd.Timestamp(end)],
            "credit_limit": [None, 10_000.0],
            "payment_terms_days": [None, 30],
            "currency": ["EUR", "EUR"],
        }
    )
    frames["customers"] = pd.concat([frames["customers"], brand_new], ignore_index=True)
    ledger = ledger_from_frames(frames)
    as_of = end + dt.timedelta(days=1)
    table = build_training_table(ledger, as_of=as_of)
    model = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0},
        lgb.Dataset(table[FEATURE_COLUMNS], table["default"]),
        num_boost_round=20,
    )
    orders = pd.DataFrame({"customer_id": ["NEW-1", "NEW-2"], "amount": [500.0, 2500.0]})
    rows = build_new_invoice_rows(ledger, orders=orders, as_of=as_of)
    _assert_model_ready(rows)
    assert rows["customer_no_payment_history"].tolist() == [1, 1]
    p = model.predict(rows[FEATURE_COLUMNS])
    assert np.isfinite(p).all()
    assert ((p > 0) & (p < 1)).all()
