"""Cents that add up: an invoice's converted payments and adjustments, rounded together.

Rounding each converted row to cents on its own can leave an invoice paid in full in
its own currency a cent or two short in the base currency (three thirds of 100.00 GBP
at 1.1734 are 39.11 + 39.11 + 39.11 = 117.33, the invoice is 117.34): it would stay
open for ever. So the rows of one invoice are rounded on their running total: each
row's base amount is its rounded running total (in the invoice's currency, at the
invoice's rate) less the base amounts before it, in the order of their dates (payments
before adjustments on one day, then by id). Stored rows of the invoice that the files do
not carry keep their stored amounts and take their place in that order. The rows then
add up to the rounded total, which is the invoice's own base amount when the originals
add up to the invoice's, and the same files give the same amounts (idempotent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.conversion import TypedFrame
from features.store import TABLE_OBJECTS
from kernel.schema import TABLES

__all__ = ["round_in_order", "round_together"]

_DATE = {"payments": "payment_date", "adjustments": "date"}
_ORDER = {"payments": 0, "adjustments": 1}
_IN_BATCH = 900


def round_together(
    conn: sa.Connection, children: list[tuple[str, TypedFrame]], rates: list[pd.Series]
) -> None:
    """Re-round the converted `amount` of payment and adjustment rows, in place.

    Args:
        conn: the import's connection (stored rows of the same invoices are read).
        children: (table, typed rows) pairs whose `original_amount` is set.
        rates: per pair, each row's invoice rate (NaN: unknown invoice). Rows at rate 1
            need nothing: their amounts are their originals.
    """
    pairs = enumerate(zip(children, rates, strict=True))
    events = [e for k, ((t, typed), r) in pairs if len(e := _file_events(k, t, typed, r))]
    if not events:
        return
    ev = pd.concat(events, ignore_index=True)
    stored = _stored_events(conn, ev)
    rate_of = ev.drop_duplicates("invoice_id").set_index("invoice_id")["rate"]
    stored["rate"] = rate_of.reindex(stored["invoice_id"]).to_numpy()
    rows = pd.concat([ev, stored], ignore_index=True)
    rows = rows.sort_values(["invoice_id", "date", "order", "id"], kind="stable")
    base = _running_base(rows)
    for k, (_, typed) in enumerate(children):
        mine = rows[(rows["source"] == k).to_numpy()]
        if not len(mine):
            continue
        amount = typed.frame["amount"].to_numpy(dtype="float64").copy()
        amount[mine["pos"].to_numpy(dtype=np.int64)] = base[mine.index].to_numpy()
        typed.frame["amount"] = amount


def round_in_order(originals: pd.Series, stored: pd.Series, rate: float) -> pd.Series:
    """Base amounts of one invoice's rows, in date order, rounded on their running total.

    A row with an original amount gets its share of the rounded running total at
    `rate`; a row stored without one (before currencies) keeps its `stored` amount and
    counts with it, as `round_together` counts stored rows. Returns NaN for those.
    """
    known = originals.notna().to_numpy()
    rows = pd.DataFrame(
        {
            "invoice_id": "one",
            "original": originals.fillna(stored).to_numpy(dtype="float64"),
            "stored": np.where(known, np.nan, stored.to_numpy(dtype="float64")),
            "rate": rate,
        }
    )
    return pd.Series(_running_base(rows).to_numpy(), index=originals.index)


def _file_events(k: int, table: str, typed: TypedFrame, rate: pd.Series) -> pd.DataFrame:
    """The rows of one file at a rate other than 1, as events in the invoices' order."""
    f = typed.frame
    date = f[_DATE[table]]
    use = rate.notna() & (rate != 1.0) & f["original_amount"].notna() & date.notna()
    use &= f["invoice_id"].notna() & f[TABLES[table].key].notna()
    mask = use.to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "invoice_id": f["invoice_id"][mask].astype("str").to_numpy(),
            "date": date[mask].to_numpy(),
            "order": _ORDER[table],
            "id": f[TABLES[table].key][mask].astype("str").to_numpy(),
            "original": f["original_amount"][mask].to_numpy(dtype="float64"),
            "stored": np.nan,
            "rate": rate[mask].to_numpy(dtype="float64"),
            "source": k,
            "pos": np.flatnonzero(mask),
        }
    )


def _stored_events(conn: sa.Connection, ev: pd.DataFrame) -> pd.DataFrame:
    """Stored payments and adjustments of the same invoices that the files do not carry."""
    ids = ev["invoice_id"].unique().tolist()
    parts = []
    for table, order in _ORDER.items():
        t = TABLE_OBJECTS[table]
        key, date = t.c[TABLES[table].key], t.c[_DATE[table]]
        select = sa.select(key, t.c.invoice_id, date, t.c.amount, t.c.original_amount)
        for i in range(0, len(ids), _IN_BATCH):
            found = conn.execute(select.where(t.c.invoice_id.in_(ids[i : i + _IN_BATCH]))).all()
            if not found:
                continue
            rows = pd.DataFrame(found, columns=["id", "invoice_id", "date", "stored", "original"])
            parts.append(rows.assign(order=order))
    if not parts:
        return ev.iloc[:0].copy()
    stored = pd.concat(parts, ignore_index=True)
    stored["id"] = stored["id"].astype("str")
    stored["invoice_id"] = stored["invoice_id"].astype("str")
    in_files = pd.MultiIndex.from_frame(ev[["order", "id"]])
    stored = stored[~pd.MultiIndex.from_frame(stored[["order", "id"]]).isin(in_files)]
    stored["date"] = pd.to_datetime(stored["date"]).astype("datetime64[ns]")
    stored["stored"] = pd.to_numeric(stored["stored"]).astype("float64")
    # A row stored before currencies existed has no original: its amount is all we know.
    original = pd.to_numeric(stored["original"]).astype("float64")
    stored["original"] = original.fillna(stored["stored"])
    return stored.assign(source=-1, pos=-1).reset_index(drop=True)


def _running_base(rows: pd.DataFrame) -> pd.Series:
    """Each file row's base amount: its rounded running total less the rows before it.

    `rows` are sorted by invoice and order; a stored row (`stored` set) counts with its
    stored amount. Signs follow the originals (credit notes may be stored negative).
    """
    by = rows["invoice_id"]
    original = rows["original"].astype("float64")
    stored = rows["stored"].astype("float64")
    total = original.abs().groupby(by).cumsum()
    is_file = stored.isna()
    rounded = (total * rows["rate"].astype("float64")).round(2)
    stored_sum = stored.abs().fillna(0.0).groupby(by).cumsum()
    # Base total after each row: the last file row's rounded total, plus stored rows since.
    anchor = rounded.where(is_file).groupby(by).ffill()
    anchor_stored = stored_sum.where(is_file).groupby(by).ffill()
    after = (anchor + stored_sum - anchor_stored).fillna(stored_sum)
    before = after.groupby(by).shift(1).fillna(0.0)
    return ((rounded - before).round(2) * np.sign(original)).where(is_file)
