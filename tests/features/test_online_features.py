"""The dict fast path of a new invoice equals the feature module's frame path."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import (
    build_new_invoice_rows,
    build_open_invoice_rows,
    customer_state,
    customer_state_and_open_rows,
    new_invoice_rows_from_state,
)
from features.ledger import Ledger, ledger_from_frames
from features.online import new_invoice_features, state_records
from features.spec import CATEGORICAL_COLUMNS, FEATURE_COLUMNS
from features.synthetic import generate_ledger
from tests.utils.bundle_factory import make_bundle
from tests.utils.ledger_factory import LedgerSpec, day, ledger_specs

AS_OF = dt.date(2026, 3, 2)


@lru_cache(maxsize=1)
def _ledger() -> Ledger:
    return ledger_from_frames(
        generate_ledger(customers=25, seed=3, years=1.5, end_date=dt.date(2026, 6, 30))
    )


def _same(a: object, b: object) -> bool:
    missing_a = a is None or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or (isinstance(b, float) and math.isnan(b))
    if missing_a or missing_b:
        return missing_a and missing_b
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return float(a) == float(b)  # type: ignore[arg-type]


def _assert_rows_equal(frame: pd.DataFrame, dicts: list[dict[str, object]]) -> None:
    """Value by value, then as the model sees them (the bundle's matrix and row paths)."""
    for k, values in enumerate(dicts):
        for column in FEATURE_COLUMNS:
            framed = frame[column].iloc[k]
            framed = None if pd.isna(framed) else framed
            assert _same(framed, values[column]), (column, framed, values[column])
    categories = {
        c: sorted({str(v) for v in frame[c].dropna()} | {"zz-other"}) for c in CATEGORICAL_COLUMNS
    }
    bundle = dataclasses.replace(make_bundle(), categories=categories)
    by_frame = bundle.matrix(frame)
    by_row = np.vstack([bundle.row(values) for values in dicts])
    np.testing.assert_array_equal(by_frame, by_row)


def _orders(ids: list[str], amounts: list[float], terms: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids,
            "amount": amounts,
            "payment_terms_days": pd.array(terms, dtype="Float64").astype("float64"),
        }
    )


def test_every_customer_of_a_synthetic_ledger_matches() -> None:
    ledger = _ledger()
    state = customer_state(ledger, as_of=AS_OF)
    records = state_records(state)
    ids = list(state.index)
    amounts = [round(100.0 + 97.3 * k, 2) for k in range(len(ids))]
    terms = [None if k % 3 else 14.0 + k for k in range(len(ids))]
    frame = build_new_invoice_rows(ledger, orders=_orders(ids, amounts, terms), as_of=AS_OF)
    dicts = [
        new_invoice_features(records[c], amount=a, as_of=AS_OF, payment_terms_days=t)
        for c, a, t in zip(ids, amounts, terms, strict=True)
    ]
    _assert_rows_equal(frame, dicts)


def test_state_of_one_customer_equals_its_row_in_the_full_state() -> None:
    """Serving refreshes one customer from its own ledger: same features as the full one."""
    ledger = _ledger()
    full = state_records(customer_state(ledger, as_of=AS_OF))
    for customer_id in list(full)[:5]:
        own = _customer_ledger(ledger, customer_id)
        alone = state_records(customer_state(own, as_of=AS_OF))
        assert set(alone) == {customer_id}
        for column, value in full[customer_id].items():
            assert _same(value, alone[customer_id][column]), (customer_id, column)


def _customer_ledger(ledger: Ledger, customer_id: str) -> Ledger:
    invoices = ledger.invoices[ledger.invoices["customer_id"] == customer_id]
    ids = invoices["invoice_id"]
    return Ledger(
        customers=ledger.customers[ledger.customers["customer_id"] == customer_id],
        invoices=invoices,
        payments=ledger.payments[ledger.payments["invoice_id"].isin(ids)],
        adjustments=ledger.adjustments[ledger.adjustments["invoice_id"].isin(ids)],
        actions=ledger.actions[ledger.actions["customer_id"] == customer_id],
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=ledger_specs(),
    as_of=st.integers(0, 200),
    amount=st.sampled_from([0.01, 99.99, 1234.5]),
    terms=st.sampled_from([None, 0.0, 21.0]),
    issue_shift=st.sampled_from([None, 0, 3]),
)
def test_random_ledgers_match(
    spec: LedgerSpec, as_of: int, amount: float, terms: float | None, issue_shift: int | None
) -> None:
    ledger = spec.ledger()
    state = customer_state(ledger, as_of=day(as_of))
    if state.empty:
        return
    records = state_records(state)
    ids = list(state.index)
    orders = _orders(ids, [amount] * len(ids), [terms] * len(ids))
    issue = None if issue_shift is None else day(as_of + issue_shift)
    if issue is not None:
        orders["issue_date"] = pd.Timestamp(issue)
    frame = new_invoice_rows_from_state(state, orders=orders, as_of=day(as_of))
    dicts = [
        new_invoice_features(
            records[c], amount=amount, as_of=day(as_of), payment_terms_days=terms, issue_date=issue
        )
        for c in ids
    ]
    _assert_rows_equal(frame, dicts)


def test_non_positive_amount_is_refused() -> None:
    record = next(iter(state_records(customer_state(_ledger(), as_of=AS_OF)).values()))
    with pytest.raises(ValueError, match="positive"):
        new_invoice_features(record, amount=0.0, as_of=AS_OF)


def test_state_and_open_rows_in_one_pass_equal_the_two_builders() -> None:
    ledger = _ledger()
    state, rows = customer_state_and_open_rows(ledger, as_of=AS_OF)
    pd.testing.assert_frame_equal(state, customer_state(ledger, as_of=AS_OF))
    pd.testing.assert_frame_equal(rows, build_open_invoice_rows(ledger, as_of=AS_OF))
