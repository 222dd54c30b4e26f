"""Feature values of one new invoice from one customer's cached state, without pandas.

The API's order decision sits inside an order flow, so it cannot build a DataFrame per
request (a one-row frame costs ten times the model call). `new_invoice_features` is
the dict form of `features.build.new_invoice_rows_from_state` for one order: it takes
one customer's row of `customer_state` (as `state_records` gives it) and computes the
invoice-level features the same way. tests/features/test_online_features.py proves both give
identical model inputs, so there is still one feature path. An order's issue-time
attributes (`features.attributes`) are given by feature name and taken as they are.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import SupportsFloat

import numpy as np
import pandas as pd

from features.attributes import is_attribute_feature
from features.build import DEFAULT_TERMS_DAYS
from features.spec import CATEGORICAL_COLUMNS, CUSTOMER_FEATURE_COLUMNS

__all__ = ["new_invoice_features", "state_records"]

CustomerRecord = dict[str, object]


def _plain(value: object) -> object:
    """A numpy / pandas scalar as a plain Python value; missing values as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer | np.bool_):
        return int(value)
    return value


def state_records(state: pd.DataFrame) -> dict[str, CustomerRecord]:
    """Customer-level features per customer id, as plain dicts (None = unknown).

    Args:
        state: a `features.build.customer_state` frame (indexed by customer_id).
    """
    columns = {c: state[c].astype("object").to_numpy() for c in CUSTOMER_FEATURE_COLUMNS}
    ids = state.index.astype("str")
    records: dict[str, CustomerRecord] = {}
    for k, customer_id in enumerate(ids):
        record = {c: _plain(columns[c][k]) for c in CUSTOMER_FEATURE_COLUMNS}
        for c in CATEGORICAL_COLUMNS:
            if record[c] is not None:
                record[c] = str(record[c])
        records[customer_id] = record
    return records


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: object) -> float | None:
    """A record's numeric field as a float; None when missing (None or NaN)."""
    if _missing(value):
        return None
    if type(value) is float:  # the usual case, checked first: SupportsFloat is a Protocol
        return value  # and its isinstance costs ~10 µs on the per-order path
    if not isinstance(value, str | SupportsFloat):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def new_invoice_features(
    customer: Mapping[str, object],
    *,
    amount: float,
    as_of: datetime.date,
    issue_date: datetime.date | None = None,
    payment_terms_days: float | None = None,
    attributes: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Every feature of a new invoice of `amount` for one customer, snapshot `as_of`.

    Args:
        customer: the customer's record from `state_records` (state as of `as_of`).
        amount: invoice amount, positive.
        as_of: the snapshot date (the day the order is decided).
        issue_date: default `as_of`.
        payment_terms_days: default the customer's terms, else `DEFAULT_TERMS_DAYS`.
        attributes: the order's attribute values by feature name (`attr_cat_channel`);
            an attribute left out is unknown.

    Raises:
        ValueError: if the amount is not positive, or an attribute is not a feature name.
    """
    if not amount > 0:
        raise ValueError("every order amount must be positive")
    amount = float(amount)
    issue = issue_date or as_of
    terms = _number(payment_terms_days)
    if terms is None:
        terms = _number(customer.get("customer_payment_terms_days"))
    # int() truncates toward zero like the frame path's astype("int64").
    terms_days = int(terms) if terms is not None else DEFAULT_TERMS_DAYS
    due = issue + datetime.timedelta(days=terms_days)
    usual = _number(customer.get("customer_median_invoice_amount"))
    features: dict[str, object] = dict(customer)
    features.update(
        invoice_amount=amount,
        invoice_log_amount=float(np.log1p(amount)),
        invoice_terms_days=terms_days,
        invoice_amount_vs_usual=(amount / usual if usual is not None and usual > 0 else None),
        invoice_issue_month=issue.month,
        invoice_issued_quarter_end=int(issue.month % 3 == 0),
        invoice_issue_weekday=issue.weekday(),
        invoice_age_days=(as_of - issue).days,
        invoice_days_past_due=(as_of - due).days,
        invoice_open_share=1.0,
        invoice_disputed=0,
    )
    for name, value in (attributes or {}).items():
        if not is_attribute_feature(name):
            raise ValueError(f"{name!r} is not an attribute feature (attr_cat_... / attr_num_...)")
        features[name] = value
    return features
