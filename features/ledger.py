"""The AR ledger in memory: the five canonical tables as typed pandas frames.

A `Ledger` is what labels and features read. Dates are `datetime64[ns]`, naive, one
value per UTC day; amounts are float; ids are strings. `Ledger.before(day)` is the
as-of cut used everywhere: what was known at the start of `day`, i.e. every event
dated strictly before it.

`read_ledger` and `load_ledger` build one from the store; the reading itself, and the
rows pandas cannot read, are handled in `features.ledger_store`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd
import sqlalchemy as sa

from features.attribute_store import no_attributes, read_attributes
from features.ledger_store import (
    LEDGER_TABLES,
    UnreadableRow,
    find_unreadable,
    isin,
    read_frames,
    without_rows,
)
from kernel.errors import StoreError
from kernel.schema import TABLES

__all__ = [
    "Ledger",
    "UnreadableRow",
    "day_timestamp",
    "last_event_day",
    "ledger_from_frames",
    "load_ledger",
    "read_ledger",
]

logger = logging.getLogger(__name__)

_STR_DTYPE = "str"
# Stored rows named in one StoreError message of `load_ledger`.
_BAD_ROWS_SHOWN = 5


def day_timestamp(day: datetime.date | pd.Timestamp | str) -> pd.Timestamp:
    """`day` as a naive midnight Timestamp, the form every ledger date column uses."""
    ts = pd.Timestamp(day)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize().as_unit("ns")


@dataclass(frozen=True)
class Ledger:
    """The five AR tables with canonical columns (see `kernel.schema.TABLES`).

    `attributes` holds the invoices' issue-time attributes, wide: invoice_id and one
    column per declared attribute, named by its feature (`features.attribute_store`).
    """

    customers: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame
    adjustments: pd.DataFrame
    actions: pd.DataFrame
    attributes: pd.DataFrame = field(default_factory=no_attributes)

    def before(self, day: datetime.date) -> Ledger:
        """The ledger as known at the start of `day`: every event dated `>= day` removed.

        Invoices are cut by issue date, payments by payment date, adjustments by date,
        actions by `at`; payments and adjustments of invoices not yet issued go with
        their invoice. A dispute dated on or after `day` is undone (the invoice becomes
        undisputed). Customers created on or after `day` are dropped unless they already
        have an invoice issued before it (imported data is not always consistent).
        """
        cut = day_timestamp(day)
        invoices = self.invoices[self.invoices["issue_date"] < cut].copy()
        late_dispute = invoices["dispute_date"].notna() & (invoices["dispute_date"] >= cut)
        invoices.loc[late_dispute, "disputed"] = False
        invoices.loc[late_dispute, "dispute_date"] = pd.NaT
        known = invoices["invoice_id"]
        payments = self.payments[
            (self.payments["payment_date"] < cut) & isin(self.payments["invoice_id"], known)
        ]
        adjustments = self.adjustments[
            (self.adjustments["date"] < cut) & isin(self.adjustments["invoice_id"], known)
        ]
        customers = self.customers[
            (self.customers["created_at"] < cut)
            | isin(self.customers["customer_id"], invoices["customer_id"])
        ]
        actions = self.actions[self.actions["at"] < cut]
        # Known at issue: an invoice issued before the cut brings its attributes along.
        attributes = self.attributes[isin(self.attributes["invoice_id"], known)]
        return Ledger(
            customers=customers.reset_index(drop=True),
            invoices=invoices.reset_index(drop=True),
            payments=payments.reset_index(drop=True),
            adjustments=adjustments.reset_index(drop=True),
            actions=actions.reset_index(drop=True),
            attributes=attributes.reset_index(drop=True),
        )


def last_event_day(ledger: Ledger) -> datetime.date | None:
    """The latest day with an event features read, or None for a ledger without invoices.

    Events: invoice issue and dispute dates, payments, adjustments. Actions are left
    out: no feature reads them. The day after it is the natural as-of date that uses
    everything known.
    """
    days = [
        ledger.invoices["issue_date"].max(),
        ledger.invoices["dispute_date"].max(),
        ledger.payments["payment_date"].max(),
        ledger.adjustments["date"].max(),
    ]
    known = [d for d in days if pd.notna(d)]
    if not len(ledger.invoices) or not known:
        return None
    return max(known).date()


def ledger_from_frames(frames: Mapping[str, pd.DataFrame]) -> Ledger:
    """A `Ledger` from frames keyed by table name, with dtypes normalised.

    Missing optional tables (payments, adjustments, actions) become empty frames;
    missing optional columns are added empty. Extra columns are dropped.

    Raises:
        ValueError: if `customers` or `invoices` is missing or lacks a required column.
    """
    for name in ("customers", "invoices"):
        if name not in frames:
            raise ValueError(f"a ledger needs a {name!r} table; got tables {sorted(frames)}")
    tables = {name: _normalise(name, frames.get(name)) for name in LEDGER_TABLES}
    return Ledger(**tables)


def _normalise(table: str, frame: pd.DataFrame | None) -> pd.DataFrame:
    spec = TABLES[table]
    if frame is None:
        frame = pd.DataFrame(columns=spec.column_names)
    missing = [c.name for c in spec.columns if c.required and c.name not in frame.columns]
    if missing and len(frame):
        raise ValueError(
            f"table {table!r} lacks required column(s) {missing}; "
            f"expected the canonical columns {spec.column_names}"
        )
    out = {}
    n = len(frame)
    for col in spec.columns:
        values = frame[col.name] if col.name in frame.columns else pd.Series([None] * n)
        values = pd.Series(values.to_numpy(), name=col.name)
        out[col.name] = _typed(values, col.kind)
    result = pd.DataFrame(out)
    if table == "invoices":
        result["disputed"] = result["disputed"].fillna(False).astype(bool)
        result["voided"] = result["voided"].fillna(False).astype(bool)
    return result


def _typed(values: pd.Series, kind: str) -> pd.Series:
    if kind == "str":
        return values.astype(_STR_DTYPE)
    if kind == "date":
        return _dates(values).dt.normalize()
    if kind == "datetime":
        return _dates(values)
    if kind == "money":
        return pd.to_numeric(values, errors="raise").astype("float64")
    if kind == "int":
        return pd.to_numeric(values, errors="raise").astype("Float64").astype("Int64")
    if kind == "bool":
        return values.astype("boolean")
    raise AssertionError(f"unknown column kind {kind}")  # pragma: no cover


def _dates(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(values.dtype):
        # Database drivers hand back date / aware datetime objects, files ISO text that
        # may end in "Z" or an offset (pandas 3 reads it as `str`, not object): make
        # everything UTC first, naive values count as UTC.
        values = pd.to_datetime(values, utc=True, format="ISO8601").dt.tz_localize(None)
    return values.astype("datetime64[ns]")


def read_ledger(
    engine: sa.Engine, *, customer_ids: Sequence[str] | None = None
) -> tuple[Ledger, list[UnreadableRow]]:
    """Read the ledger from the store, leaving out customers with a row pandas cannot read.

    One out-of-range date (written by an older version, a hand edit, direct SQL) would
    otherwise fail the whole read: here its customer is left out whole, and the row
    returned so the caller can say which customer is not served and why.

    Args:
        engine: engine of the store, schema at head (`features.store.ensure_schema`).
        customer_ids: when given, only these customers and their invoices, payments,
            adjustments and actions (serving refreshes one customer per event).

    Returns:
        The ledger of every readable customer, and the unreadable rows.
    """
    frames, bad = find_unreadable(read_frames(engine, customer_ids))
    if bad:
        frames = without_rows(frames, bad)
    ledger = ledger_from_frames(frames)
    with engine.connect() as conn:
        ids = None if customer_ids is None else pd.Index(ledger.invoices["invoice_id"])
        ledger = replace(ledger, attributes=read_attributes(conn, ids))
    logger.debug(
        "Loaded ledger: %d customers, %d invoices, %d payments, %d unreadable rows",
        len(ledger.customers),
        len(ledger.invoices),
        len(ledger.payments),
        len(bad),
    )
    return ledger, bad


def load_ledger(engine: sa.Engine, *, customer_ids: Sequence[str] | None = None) -> Ledger:
    """Read the ledger from the AR store (`features.store` tables).

    Args:
        engine: engine of the store, schema at head (`features.store.ensure_schema`).
        customer_ids: when given, only these customers and their invoices, payments,
            adjustments and actions.

    Returns:
        The ledger with canonical dtypes.

    Raises:
        StoreError: a stored row holds a value pandas cannot read (training and exports
            must not silently leave a customer out; serving uses `read_ledger`).
    """
    ledger, bad = read_ledger(engine, customer_ids=customer_ids)
    if bad:
        shown = "; ".join(str(r) for r in bad[:_BAD_ROWS_SHOWN])
        more = f" (and {len(bad) - _BAD_ROWS_SHOWN} more)" if len(bad) > _BAD_ROWS_SHOWN else ""
        raise StoreError(
            f"{len(bad)} stored row(s) cannot be read: {shown}{more}. Correct or delete "
            "these rows in the database, then run the command again"
        )
    return ledger
