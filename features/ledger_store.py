"""The ledger tables as stored: read per table, and the rows pandas cannot read isolated.

`features.ledger.read_ledger` puts these together: read the frames, find the unreadable
rows, drop their customers whole, build the `Ledger`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from kernel.config import PANDAS_DATE_MAX, PANDAS_DATE_MIN
from kernel.schema import TABLES

__all__ = [
    "LEDGER_TABLES",
    "UnreadableRow",
    "find_unreadable",
    "isin",
    "read_frames",
    "without_rows",
    "without_voided",
]

LEDGER_TABLES = ("customers", "invoices", "payments", "adjustments", "actions")
# Keeps `load_ledger(customer_ids=...)` inside the bind-parameter limits of SQLite / PostgreSQL.
_ID_CHUNK = 900
_TS_MIN = pd.Timestamp(PANDAS_DATE_MIN)
_TS_MAX = pd.Timestamp(PANDAS_DATE_MAX) + pd.Timedelta(days=1)  # the whole last day


def isin(values: pd.Series, known: pd.Series) -> np.ndarray:
    """`values.isin(known)` for id columns, computed by Arrow.

    pandas' own `isin` on `str` columns converts `known` element by element in Python:
    about 6 s for a million ids, against 0.4 s here.
    """
    # Ledger id columns are Arrow-backed already: these conversions copy nothing.
    hit = pc.is_in(
        pa.array(values, type=pa.large_string()),
        value_set=pa.array(known, type=pa.large_string()),
    )
    return hit.to_numpy(zero_copy_only=False).astype(bool)


@dataclass(frozen=True)
class UnreadableRow:
    """A stored row holding a value pandas cannot read (e.g. a date in the year 3000)."""

    table: str
    row_id: str
    customer_id: str | None  # the customer it belongs to, when it can be told
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        owner = f" of customer {self.customer_id!r}" if self.customer_id else ""
        return (
            f"{self.table} row {self.row_id!r}{owner}: {self.column} = {self.value!r} {self.reason}"
        )


def _coerced(values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series, str]:
    """`values` typed as in `features.ledger`, unreadable ones missing; their mask; why."""
    if kind in ("date", "datetime"):
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            parsed = values.dt.tz_convert("UTC").dt.tz_localize(None)
        elif pd.api.types.is_datetime64_dtype(values.dtype):
            parsed = values
        else:
            parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
            parsed = parsed.dt.tz_localize(None)
        # pandas 3 parses to microseconds, which hold the year 3000; the ledger's
        # nanosecond columns do not, so the range is checked before the cast.
        outside = parsed.notna() & ((parsed < _TS_MIN) | (parsed >= _TS_MAX))
        parsed = parsed.where(~outside).astype("datetime64[ns]")
        reason = f"is not a date between {PANDAS_DATE_MIN} and {PANDAS_DATE_MAX}"
    elif kind in ("money", "int"):
        parsed = pd.to_numeric(values, errors="coerce").astype("float64")
        outside = parsed.notna() & ~np.isfinite(parsed)
        if kind == "int":
            outside |= parsed.notna() & (parsed != np.floor(parsed))
        parsed = parsed.where(~outside)
        reason = "is not a finite number" if kind == "money" else "is not a whole number"
    else:
        return values, pd.Series(False, index=values.index), ""
    bad = values.notna().to_numpy() & parsed.isna().to_numpy()
    return parsed, pd.Series(bad, index=values.index), reason


def find_unreadable(
    frames: dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], list[UnreadableRow]]:
    """Frames with date and number columns converted, and every row that could not be."""
    out: dict[str, pd.DataFrame] = {}
    found: list[tuple[str, pd.Index, str, pd.Series, str]] = []
    for name, frame in frames.items():
        frame = frame.copy()
        for col in TABLES[name].columns:
            if col.name not in frame.columns:
                continue
            parsed, bad, reason = _coerced(frame[col.name], col.kind)
            if bad.any():
                found.append((name, frame.index[bad.to_numpy()], col.name, frame[col.name], reason))
            if col.kind in ("date", "datetime", "money"):
                frame[col.name] = parsed
        out[name] = frame
    if not found:
        return out, []
    owner = dict(
        zip(
            frames["invoices"]["invoice_id"].astype("str"),
            frames["invoices"]["customer_id"].astype("str"),
            strict=True,
        )
    )
    rows = []
    for name, index, column, raw, reason in found:
        frame = frames[name]
        key = TABLES[name].key
        for i in index:
            cid = frame.at[i, "customer_id"] if "customer_id" in frame.columns else None
            if (cid is None or pd.isna(cid) or cid == "") and "invoice_id" in frame.columns:
                cid = owner.get(str(frame.at[i, "invoice_id"]))
            rows.append(
                UnreadableRow(
                    table=name,
                    row_id=str(frame.at[i, key]),
                    customer_id=None if cid is None or pd.isna(cid) else str(cid),
                    column=column,
                    value=str(raw.at[i]),
                    reason=reason,
                )
            )
    return out, rows


def without_rows(
    frames: dict[str, pd.DataFrame], rows: list[UnreadableRow]
) -> dict[str, pd.DataFrame]:
    """Frames without the unreadable rows and without every row of their customers.

    A customer is dropped whole: features of a history with one payment missing would
    be wrong, not merely incomplete.
    """
    customers = {r.customer_id for r in rows if r.customer_id is not None}
    own = {name: {r.row_id for r in rows if r.table == name} for name in frames}
    ids = pd.Series(sorted(customers), dtype="str")
    invoices = frames["invoices"]
    dropped_invoices = invoices.loc[
        isin(invoices["customer_id"].astype("str"), ids)
        | invoices["invoice_id"].astype("str").isin(own["invoices"]),
        "invoice_id",
    ].astype("str")
    out = {}
    for name, frame in frames.items():
        drop = frame[TABLES[name].key].astype("str").isin(own[name]).to_numpy().copy()
        if "customer_id" in frame.columns:
            drop |= isin(frame["customer_id"].astype("str").fillna(""), ids)
        if name != "invoices" and "invoice_id" in frame.columns:
            drop |= isin(frame["invoice_id"].astype("str").fillna(""), dropped_invoices)
        out[name] = frame[~drop].reset_index(drop=True)
    return out


def read_frames(engine: sa.Engine, customer_ids: Sequence[str] | None) -> dict[str, pd.DataFrame]:
    """The five ledger tables as stored, untyped; only `customer_ids`' rows when given."""
    from features.store import TABLE_OBJECTS

    frames: dict[str, pd.DataFrame] = {}
    with engine.connect() as conn:
        for name in LEDGER_TABLES:
            table = TABLE_OBJECTS[name]
            columns = [table.c[c] for c in TABLES[name].column_names]
            if customer_ids is None:
                frames[name] = pd.read_sql(sa.select(*columns), conn)
                continue
            parts = []
            ids = list(dict.fromkeys(str(c) for c in customer_ids))
            for start in range(0, max(len(ids), 1), _ID_CHUNK):
                chunk = ids[start : start + _ID_CHUNK]
                parts.append(pd.read_sql(_select_for(name, columns, chunk), conn))
            frames[name] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return without_voided(frames)


def without_voided(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Frames without voided invoices and the payments, adjustments and actions naming them.

    The one place features, labels, exposure, the worklist and training lose a voided
    invoice: the rows stay in the store (a later export may un-void it).
    """
    invoices = frames["invoices"]
    if "voided" not in invoices.columns:
        return frames
    voided = invoices["voided"].fillna(False).astype(bool).to_numpy()
    if not voided.any():
        return frames
    gone = invoices.loc[voided, "invoice_id"].astype("str")
    out = {"invoices": invoices[~voided].reset_index(drop=True)}
    for name, frame in frames.items():
        if name != "invoices":
            keep = ~isin(frame["invoice_id"].astype("str"), gone) if "invoice_id" in frame else None
            out[name] = frame if keep is None else frame[keep].reset_index(drop=True)
    return out


def _select_for(name: str, columns: list[sa.Column], ids: list[str]) -> sa.Select:
    from features.store import TABLE_OBJECTS

    table = TABLE_OBJECTS[name]
    if name == "adjustments":
        invoices = TABLE_OBJECTS["invoices"]
        owned = sa.select(invoices.c.invoice_id).where(invoices.c.customer_id.in_(ids))
        return sa.select(*columns).where(table.c.invoice_id.in_(owned))
    if name == "payments":
        # A payment's customer_id may be empty in foreign data: go through its invoice.
        invoices = TABLE_OBJECTS["invoices"]
        owned = sa.select(invoices.c.invoice_id).where(invoices.c.customer_id.in_(ids))
        return sa.select(*columns).where(table.c.invoice_id.in_(owned))
    return sa.select(*columns).where(table.c.customer_id.in_(ids))
