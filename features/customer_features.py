"""Steps 1 and 2 of the feature path: the ledger cut at a date, and customer-level features.

`ledger_context` cuts the ledger at the as-of date (`Ledger.before`) and derives the
invoice timelines; `customer_features` computes every customer-level feature (history,
exposure, tenure, the customer's record, cold-start flags) for (customer, snapshot date)
pairs from events dated strictly before each snapshot. `features.build` makes the rows
of all three tables from them; `customer_state` is step 2 for every customer at one date.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.exposure import exposure_features
from features.history import history_features
from features.ledger import Ledger, day_timestamp
from features.snapshots import days_between
from features.spec import CUSTOMER_FEATURE_COLUMNS, NEW_CUSTOMER_DAYS
from features.timeline import InvoiceTimeline, invoice_timeline

__all__ = ["Context", "customer_features", "customer_state", "ledger_context", "state_of"]

logger = logging.getLogger(__name__)

# The categorical features taken from the customer's record: feature -> record column.
_RECORD_CATEGORIES = {"customer_industry": "industry", "customer_country": "country"}


@dataclass(frozen=True)
class Context:
    """A ledger cut at `as_of` with its timelines and integer customer codes."""

    as_of: pd.Timestamp
    customers: pd.DataFrame  # one row per customer code, ledger order
    timeline: InvoiceTimeline
    categories: dict[str, list[str]]


def ledger_context(
    ledger: Ledger, as_of: datetime.date, *, created_that_day: bool = False
) -> Context:
    """Cut the ledger at `as_of`; with `created_that_day`, keep customers created on it.

    A customer record created on the as-of day has no events yet but may already place
    an order that day: serving needs its (cold-start) state, training never does.
    """
    cut_day = day_timestamp(as_of)
    cut = ledger.before(cut_day)
    customers = cut.customers
    if created_that_day:
        today = ledger.customers[ledger.customers["created_at"] == cut_day]
        today = today[~today["customer_id"].isin(customers["customer_id"])]
        customers = pd.concat([customers, today], ignore_index=True)
    customers = customers.drop_duplicates("customer_id").reset_index(drop=True)
    ids = pd.Index(customers["customer_id"])
    orphans = pd.Index(cut.invoices["customer_id"].unique()).difference(ids)
    if len(orphans):
        logger.warning("%d invoices' customers are not in the customers table", len(orphans))
        extra = pd.DataFrame({"customer_id": orphans.astype("str")})
        customers = pd.concat([customers, extra], ignore_index=True)
        ids = pd.Index(customers["customer_id"])
    timeline = invoice_timeline(cut)
    timeline.invoices["cust"] = ids.get_indexer(timeline.invoices["customer_id"])
    timeline.steps["cust"] = ids.get_indexer(timeline.steps["customer_id"])
    categories = {
        column: _category_list(customers[source]) for column, source in _RECORD_CATEGORIES.items()
    }
    return Context(cut_day, customers, timeline, categories)


def _category_list(values: pd.Series) -> list[str]:
    return sorted(str(v) for v in values.dropna().unique())


def customer_features(ctx: Context, keys: pd.DataFrame) -> pd.DataFrame:
    """Every customer-level feature for keys (cust, snapshot_date), aligned with keys."""
    original = keys.index
    keys = keys.sort_values("snapshot_date", kind="stable")
    inv, steps = ctx.timeline.invoices, ctx.timeline.steps
    out = history_features(inv, keys).join(exposure_features(inv, steps, keys))
    cust = keys["cust"].to_numpy()
    snap = keys["snapshot_date"].to_numpy(dtype="datetime64[ns]")
    customers = ctx.customers

    created = customers["created_at"].to_numpy(dtype="datetime64[ns]")
    first_issue = (
        pd.Series(inv["issue_date"].to_numpy(), index=inv["cust"].to_numpy())
        .groupby(level=0)
        .min()
        .reindex(range(len(customers)))
        .to_numpy(dtype="datetime64[ns]")
    )
    # The relationship began at creation, or at the first invoice if the records disagree.
    start = np.where(
        np.isnat(first_issue),
        created,
        np.where(np.isnat(created), first_issue, np.minimum(created, first_issue)),
    )[cust]
    tenure = np.nan_to_num(np.maximum(days_between(snap, start), 0.0))
    out["customer_tenure_days"] = tenure.astype("int64")

    limit = customers["credit_limit"].to_numpy(dtype="float64", na_value=np.nan)[cust]
    out["customer_credit_limit"] = limit
    terms = customers["payment_terms_days"].astype("Float64")
    out["customer_payment_terms_days"] = terms.to_numpy(dtype="float64", na_value=np.nan)[cust]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["exposure_credit_utilisation"] = np.where(
            limit > 0, out["exposure_open_amount"].to_numpy() / limit, np.nan
        )
    for column, source in _RECORD_CATEGORIES.items():
        values = customers[source].astype("object").to_numpy()[cust]
        out[column] = pd.Categorical(
            pd.Series(values).where(pd.notna(values), None), categories=ctx.categories[column]
        )
    out["customer_no_payment_history"] = (out["history_settled_count"] == 0).astype("int64")
    out["customer_is_new"] = (tenure < NEW_CUSTOMER_DAYS).astype("int64")
    return out[CUSTOMER_FEATURE_COLUMNS].reindex(original)


def state_of(ctx: Context) -> pd.DataFrame:
    """Every customer-level feature of every customer of `ctx` at its as-of date."""
    keys = pd.DataFrame(
        {
            "cust": np.arange(len(ctx.customers), dtype=np.int64),
            "snapshot_date": np.full(len(ctx.customers), ctx.as_of.to_datetime64()),
        }
    )
    state = customer_features(ctx, keys)
    state.index = pd.Index(ctx.customers["customer_id"].astype("str"), name="customer_id")
    return state


def customer_state(ledger: Ledger, *, as_of: datetime.date) -> pd.DataFrame:
    """Every customer-level feature of every customer as of the start of `as_of`.

    Returns:
        Frame indexed by customer_id with the customer-level feature columns
        (`features.spec.CUSTOMER_FEATURE_COLUMNS`). Customers created on or after
        `as_of` (without earlier invoices) are not in it.
    """
    return state_of(ledger_context(ledger, as_of, created_that_day=True))
