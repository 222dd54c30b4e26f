"""The one feature path: training tables, open-invoice rows and new-order rows.

All three builders go through the same steps:

1. cut the ledger at the as-of date (`Ledger.before`) and derive invoice timelines;
2. customer-level features for (customer, snapshot date) pairs
   (`features.customer_features`: history, exposure, tenure, attributes, cold-start
   flags), every one computed from events dated strictly before the snapshot;
3. invoice-level features from the invoice, its open amount at the snapshot and the
   customer's features (`_with_invoice_features`);
4. the invoice's issue-time attributes, one column per declared attribute
   (`features.attributes`; category or float64, NaN when the invoice has no value),
   after the spec's features.

`customer_state(as_of)` is step 2 for every customer at one date, so serving can cache
it per customer and build a row for a new order from it alone
(`new_invoice_rows_from_state`), refreshing a customer only when an event arrives.
"""

from __future__ import annotations

import datetime
import logging

import numpy as np
import pandas as pd

from features.attributes import NUMBER_PREFIX, is_attribute_feature
from features.customer_features import (
    Context,
    customer_features,
    customer_state,
    ledger_context,
    state_of,
)
from features.labels import DEFAULT_VERY_LATE_DAYS, labels_from_timeline
from features.ledger import Ledger, day_timestamp
from features.snapshots import asof_last, days_between, snapshot_dates
from features.spec import CATEGORICAL_COLUMNS, CUSTOMER_FEATURE_COLUMNS, FEATURE_COLUMNS
from kernel.errors import UnknownEntityError

__all__ = [
    "BASE_COLUMNS",
    "DEFAULT_TERMS_DAYS",
    "KEY_COLUMNS",
    "LABEL_COLUMNS",
    "attribute_columns",
    "build_new_invoice_rows",
    "build_open_invoice_rows",
    "build_training_table",
    "customer_state",
    "customer_state_and_open_rows",
    "new_invoice_rows_from_state",
]

logger = logging.getLogger(__name__)

KEY_COLUMNS = ["invoice_id", "customer_id", "snapshot_date"]
BASE_COLUMNS = ["issue_date", "due_date", "amount", "open_amount"]
LABEL_COLUMNS = ["days_late", "default", "very_late", "settled_date"]
# Terms of a new order when neither the order nor the customer has any.
DEFAULT_TERMS_DAYS = 30

_ROW_COLUMNS = [*KEY_COLUMNS, *BASE_COLUMNS, *FEATURE_COLUMNS]


def _invoice_open_amount(ctx: Context, positions: np.ndarray, snap: np.ndarray) -> np.ndarray:
    """Open amount of invoices (row positions in the timeline) at the start of each date."""
    inv, steps = ctx.timeline.invoices, ctx.timeline.steps
    keys = pd.DataFrame({"cust": positions.astype(np.int64), "snapshot_date": snap})
    keys = keys.sort_values("snapshot_date", kind="stable")
    stream = steps[["inv", "date", "open_after"]].rename(columns={"inv": "cust"})
    stream = stream.astype({"cust": np.int64})
    after = asof_last(keys, stream, ["open_after"])["open_after"].reindex(range(len(positions)))
    amount = inv["amount"].to_numpy(dtype="float64")[positions]
    return np.round(np.where(after.isna(), amount, after.to_numpy()), 2)


def _with_invoice_features(rows: pd.DataFrame) -> pd.DataFrame:
    """Add the invoice-level features to rows holding the base and customer columns.

    `rows` needs issue_date, due_date, amount, open_amount, snapshot_date, disputed (0/1
    at the snapshot) and customer_median_invoice_amount.
    """
    snap = rows["snapshot_date"].to_numpy(dtype="datetime64[ns]")
    issue = rows["issue_date"]
    amount = rows["amount"].to_numpy(dtype="float64")
    rows["invoice_amount"] = amount
    rows["invoice_log_amount"] = np.log1p(amount)
    rows["invoice_terms_days"] = days_between(rows["due_date"], issue).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        usual = rows["customer_median_invoice_amount"].to_numpy(dtype="float64")
        rows["invoice_amount_vs_usual"] = np.where(usual > 0, amount / usual, np.nan)
    rows["invoice_issue_month"] = issue.dt.month.astype("int64")
    rows["invoice_issued_quarter_end"] = (issue.dt.month % 3 == 0).astype("int64")
    rows["invoice_issue_weekday"] = issue.dt.day_of_week.astype("int64")
    rows["invoice_age_days"] = days_between(snap, issue).astype("int64")
    rows["invoice_days_past_due"] = days_between(snap, rows["due_date"]).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        rows["invoice_open_share"] = np.round(rows["open_amount"].to_numpy() / amount, 6)
    rows["invoice_disputed"] = rows["disputed"].astype("int64")
    return rows[[*_ROW_COLUMNS, *attribute_columns(rows)]]


def attribute_columns(frame: pd.DataFrame) -> list[str]:
    """The attribute feature columns of a frame, in its order."""
    return [c for c in frame.columns if is_attribute_feature(str(c))]


def _with_attributes(rows: pd.DataFrame, attributes: pd.DataFrame) -> pd.DataFrame:
    """Add the invoices' attribute columns (wide `Ledger.attributes`) to rows, in place.

    Attributes are known at issue, so every snapshot of an invoice sees them. Category
    columns get the values present in `rows` as categories (sorted); numbers stay float.
    """
    at = pd.Index(attributes["invoice_id"].astype("str")).get_indexer(
        rows["invoice_id"].astype("str")
    )
    found = at >= 0
    for name in attribute_columns(attributes):
        source = attributes[name]
        if name.startswith(NUMBER_PREFIX):
            values = np.full(len(rows), np.nan)
            values[found] = source.to_numpy(dtype="float64", na_value=np.nan)[at[found]]
            rows[name] = values
        else:
            text = np.full(len(rows), None, dtype=object)
            text[found] = source.to_numpy(dtype=object, na_value=None)[at[found]]
            known = sorted({v for v in text[found] if v is not None})
            rows[name] = pd.Categorical(text, categories=known)
    return rows


def _invoice_rows(ctx: Context, positions: np.ndarray, snap: np.ndarray) -> pd.DataFrame:
    """Base columns of real invoices (timeline row positions) at snapshot dates."""
    inv = ctx.timeline.invoices
    dispute = inv["dispute_date"].to_numpy(dtype="datetime64[ns]")[positions]
    return pd.DataFrame(
        {
            "invoice_id": inv["invoice_id"].to_numpy()[positions],
            "customer_id": inv["customer_id"].to_numpy()[positions],
            "snapshot_date": snap,
            "issue_date": inv["issue_date"].to_numpy(dtype="datetime64[ns]")[positions],
            "due_date": inv["due_date"].to_numpy(dtype="datetime64[ns]")[positions],
            "amount": inv["amount"].to_numpy(dtype="float64")[positions],
            "open_amount": _invoice_open_amount(ctx, positions, snap),
            "disputed": ~np.isnat(dispute) & (dispute < snap),
            "cust": inv["cust"].to_numpy()[positions],
        }
    )


def build_training_table(
    ledger: Ledger,
    *,
    as_of: datetime.date,
    horizon_days: int = 90,
    snapshot_every_days: int | None = None,
    very_late_days: int = DEFAULT_VERY_LATE_DAYS,
    include_open: bool = False,
) -> pd.DataFrame:
    """The training table as of `as_of`: features and labels of mature invoices.

    One row per (invoice, snapshot date) for invoices issued before `as_of` whose
    outcome is known at `as_of` (see `features.labels`): a snapshot at the issue date,
    and with `snapshot_every_days` = N one every N days after it while the invoice is
    still open, before due date + horizon and before `as_of`. very_late is 1 for a
    default or a settlement more than `very_late_days` after due.

    With `include_open` the invoices whose outcome is not known yet get their rows too
    (days_late NaN, default and very_late 0: unknown, not "paid"): the hazard model
    learns from them as right-censored observations; every other consumer must select
    rows by outcome (`training.folds.known_before`).

    Returns:
        Columns KEY_COLUMNS + issue_date, due_date, amount, open_amount +
        FEATURE_COLUMNS + LABEL_COLUMNS; sorted by snapshot_date,
        then invoice_id; a fresh RangeIndex.
    """
    ctx = ledger_context(ledger, as_of)
    inv = ctx.timeline.invoices
    labels = labels_from_timeline(
        inv, as_of=ctx.as_of, horizon_days=horizon_days, very_late_days=very_late_days
    )
    known = labels["mature"].to_numpy()
    mature = np.arange(len(inv)) if include_open else np.flatnonzero(known)
    sub = inv.iloc[mature]
    horizon_end = sub["due_date"] + pd.Timedelta(days=horizon_days)
    # Still open at the start of S means not closed before S: S <= closed date.
    open_until = sub["closed_date"] + pd.Timedelta(days=1)
    limit = pd.concat([horizon_end, open_until, pd.Series(ctx.as_of, index=sub.index)], axis=1).min(
        axis=1
    )
    local, snap = snapshot_dates(sub["issue_date"], limit, snapshot_every_days)
    positions = mature[local]
    # The final order (snapshot date, then invoice id) is set on the index arrays up
    # front: sorting the wide table at the end would copy all of it once more.
    id_rank = np.empty(len(inv), dtype=np.int64)
    id_rank[inv["invoice_id"].argsort(kind="stable").to_numpy()] = np.arange(len(inv))
    order = np.lexsort((id_rank[positions], snap))
    positions, snap = positions[order], snap[order]
    rows = _with_attributes(_invoice_rows(ctx, positions, snap), ledger.attributes)
    # Customer features once per (customer, snapshot date), then spread to the rows by
    # position (a merge would copy both sides into a new frame).
    pair = rows.groupby(["cust", "snapshot_date"], sort=False).ngroup().to_numpy()
    keys = rows[["cust", "snapshot_date"]].drop_duplicates()
    cust_features = customer_features(ctx, keys)
    for column in CUSTOMER_FEATURE_COLUMNS:
        rows[column] = cust_features[column].array.take(pair)
    table = _with_invoice_features(rows)
    table["days_late"] = labels["days_late"].to_numpy()[positions]
    table["default"] = labels["default"].to_numpy()[positions]
    table["very_late"] = labels["very_late"].to_numpy()[positions]
    table["settled_date"] = labels["settled_date"].to_numpy()[positions]
    logger.info(
        "Training table as of %s: %d rows from %d mature invoices",
        ctx.as_of.date(),
        len(table),
        len(mature),
    )
    return table


def build_open_invoice_rows(ledger: Ledger, *, as_of: datetime.date) -> pd.DataFrame:
    """Feature rows of every invoice open at the start of `as_of` (worklist, cash forecast).

    Open = issued before `as_of` and neither settled nor written off before it.

    Returns:
        Columns KEY_COLUMNS + issue_date, due_date, amount, open_amount +
        FEATURE_COLUMNS, snapshot_date = as_of, sorted by invoice_id.
    """
    return customer_state_and_open_rows(ledger, as_of=as_of)[1]


def customer_state_and_open_rows(
    ledger: Ledger, *, as_of: datetime.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`customer_state` and `build_open_invoice_rows` of one date in one pass.

    Serving needs both when it starts and after every event; computed together they
    share the ledger cut, the timelines and the customer features (half the time).

    Returns:
        (customer_state(ledger, as_of=as_of), build_open_invoice_rows(ledger, as_of=as_of)).
    """
    ctx = ledger_context(ledger, as_of, created_that_day=True)
    state = state_of(ctx)
    inv = ctx.timeline.invoices
    positions = np.flatnonzero(inv["closed_date"].isna().to_numpy())
    snap = np.full(len(positions), ctx.as_of.to_datetime64())
    rows = _with_attributes(_invoice_rows(ctx, positions, snap), ledger.attributes)
    rows = (
        _rows_with_state(rows, state)
        .sort_values("invoice_id", kind="stable")
        .reset_index(drop=True)
    )
    return state, rows


def _rows_with_state(rows: pd.DataFrame, state: pd.DataFrame) -> pd.DataFrame:
    """Join customer-level features from a customer_state frame, then invoice features."""
    cust_cols = state.reindex(pd.Index(rows["customer_id"].astype("str")))
    for column in CUSTOMER_FEATURE_COLUMNS:
        rows[column] = cust_cols[column].to_numpy()
    for column in CATEGORICAL_COLUMNS:
        rows[column] = pd.Categorical(
            cust_cols[column].to_numpy(), categories=state[column].cat.categories
        )
    return _with_invoice_features(rows)


def new_invoice_rows_from_state(
    state: pd.DataFrame, *, orders: pd.DataFrame, as_of: datetime.date
) -> pd.DataFrame:
    """Feature rows for hypothetical new invoices from a (cached) `customer_state`.

    Args:
        state: `customer_state(ledger, as_of=as_of)`, or some of its rows.
        orders: customer_id, amount, and optionally invoice_id, issue_date (default
            `as_of`), payment_terms_days (default the customer's terms, else
            `DEFAULT_TERMS_DAYS`) and attribute feature columns (`attr_cat_<name>`,
            `attr_num_<name>`), copied as they are.
        as_of: the snapshot date of the rows.

    Raises:
        UnknownEntityError: if an order's customer is not in `state`.
        ValueError: if an order lacks customer_id or amount, or an amount is not positive.
    """
    missing = [c for c in ("customer_id", "amount") if c not in orders.columns]
    if missing:
        raise ValueError(f"orders need columns customer_id and amount; missing {missing}")
    customer_ids = orders["customer_id"].astype("str")
    unknown = sorted(set(customer_ids) - set(state.index))
    if unknown:
        raise UnknownEntityError(
            f"unknown customer id(s) {unknown[:10]}: import the customer first, "
            "or check the id (created on or after the as-of date?)"
        )
    amount = pd.to_numeric(orders["amount"]).to_numpy(dtype="float64")
    if not (amount > 0).all():
        raise ValueError("every order amount must be positive")
    n = len(orders)
    day = day_timestamp(as_of)
    issue = (
        pd.to_datetime(orders["issue_date"]).dt.normalize().astype("datetime64[ns]").to_numpy()
        if "issue_date" in orders.columns
        else np.full(n, day.to_datetime64())
    )
    issue = np.where(np.isnat(issue), day.to_datetime64(), issue)
    own_terms = state["customer_payment_terms_days"].reindex(customer_ids).to_numpy()
    own_terms = np.where(np.isnan(own_terms), DEFAULT_TERMS_DAYS, own_terms)
    if "payment_terms_days" in orders.columns:
        given = pd.to_numeric(orders["payment_terms_days"]).to_numpy(dtype="float64")
        terms = np.where(np.isnan(given), own_terms, given)
    else:
        terms = own_terms
    ids = (
        orders["invoice_id"].astype("str").to_numpy()
        if "invoice_id" in orders.columns
        else np.array([f"order-{k + 1}" for k in range(n)], dtype=object)
    )
    rows = pd.DataFrame(
        {
            "invoice_id": ids,
            "customer_id": customer_ids.to_numpy(),
            "snapshot_date": np.full(n, day.to_datetime64()),
            "issue_date": issue,
            "due_date": issue + terms.astype("int64").astype("timedelta64[D]"),
            "amount": amount,
            "open_amount": amount,
            "disputed": np.zeros(n, dtype=bool),
        }
    )
    rows = rows.astype({"invoice_id": "str", "customer_id": "str"})
    for name in attribute_columns(orders):
        rows[name] = orders[name].to_numpy()
    return _rows_with_state(rows, state)


def build_new_invoice_rows(
    ledger: Ledger, *, orders: pd.DataFrame, as_of: datetime.date
) -> pd.DataFrame:
    """Feature rows for hypothetical new invoices (order approval), one per order.

    See `new_invoice_rows_from_state` for the columns of `orders`.

    Raises:
        UnknownEntityError: if an order's customer is not in the ledger at `as_of`.
    """
    state = customer_state(ledger, as_of=as_of)
    return new_invoice_rows_from_state(state, orders=orders, as_of=as_of)
