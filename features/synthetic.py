"""A realistic synthetic AR ledger, generated vectorised and deterministically by seed.

The story the data tells, so that models have something real to learn:

- every customer has a latent credit risk (a logit) that drifts month by month: most
  wander, some deteriorate, some improve; industry and country shift its level; now
  and then a spell of liquidity trouble raises it sharply for a few months;
- invoices arrive as a Poisson process per customer-month with seasonality (a summer
  dip, a year-end peak), log-normal amounts around the customer's usual size, and the
  customer's terms (30, 45 or 60 days);
- the risk at issue (plus noise) drives whether and how late an invoice is paid,
  whether it is disputed and whether it defaults; defaulted invoices are paid very late
  or partly paid and written off;
- partial payments, credit notes (returns and dispute settlements), and collection
  actions (reminders, calls, promises to pay, legal escalation) happen on the way.

Nothing dated after the end date is written, so the newest invoices are still open
(only due dates may lie after it, in the `instalments` profile). The latent risk never
leaves the generator: models must learn from behaviour.

That is the `default` profile; `features.synthetic_profiles` describes the others
(`thin`, `many-counterparties`, `instalments`), the shapes real companies' books have.

This module runs the stages in order and writes the files; the stages live in
`features.synthetic_customers` (customers and their risk), `features.synthetic_invoices`
(invoices and their outcomes), `features.synthetic_schedules` (fee schedules and payment
plans) and `features.synthetic_events` (the tables drawn from them).
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.synthetic_customers import draw_customers
from features.synthetic_events import collection_actions, invoice_frame, settlements
from features.synthetic_invoices import draw_invoices, draw_outcomes
from features.synthetic_profiles import Profile, get_profile
from features.synthetic_rates import draw_rates
from features.synthetic_schedules import draw_schedules
from kernel.config import get_settings
from kernel.schema import TABLES

__all__ = ["generate_ledger", "write_ledger"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]

_STAGES = ("customers", "invoices", "outcomes", "payments", "adjustments", "actions")


def generate_ledger(
    *,
    customers: int | None = None,
    seed: int = 0,
    years: float | None = None,
    end_date: datetime.date | None = None,
    default_rate: float | None = None,
    profile: str | Profile = "default",
    base_currency: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, pd.DataFrame]:
    """Generate the canonical tables for `customers` over `years` ending at `end_date`.

    Amounts are in each customer's currency (EUR, GBP or USD); `exchange_rates` holds
    a daily rate per other currency, valued in the base currency, for the import.

    Args:
        customers: number of customers (default: the profile's; in the default profile
            about 33 invoices each per year).
        seed: same seed, same arguments -> identical frames.
        years: length of the history (default: the profile's).
        end_date: last day with events (default today).
        default_rate: override the share of defaulting invoices; 0.0 gives a ledger where
            every invoice is eventually paid within the horizon and nothing is written off
            (default: the profile's).
        profile: a ledger profile or its name (`features.synthetic_profiles`).
        base_currency: the currency the rates are valued in (default: the settings').
        on_progress: called as (stage, done, total) after each stage.

    Returns:
        Frames keyed by table name with the canonical columns of `kernel.schema.TABLES`.

    Raises:
        ConfigurationError: if `profile` names no profile, or the base currency is one
            the generator has no rates for.
    """
    shape = get_profile(profile) if isinstance(profile, str) else profile
    customers = shape.customers if customers is None else customers
    years = shape.years if years is None else years
    default_rate = shape.default_rate if default_rate is None else default_rate
    _check_sizes(customers, years, default_rate)
    rng = np.random.default_rng(seed)
    end = np.datetime64(end_date or datetime.date.today(), "D")
    start = end - np.timedelta64(max(round(years * 365.25), 1) - 1, "D")
    months = np.arange(start.astype("datetime64[M]"), end.astype("datetime64[M]") + 1)

    def progress(stage: str) -> None:
        if on_progress is not None:
            on_progress("generate", _STAGES.index(stage) + 1, len(_STAGES))

    cust = draw_customers(rng, customers, start, end, months, shape)
    progress("customers")
    draw = draw_schedules if shape.instalments else draw_invoices
    inv = draw(rng, cust, start, end, months, shape)
    progress("invoices")
    out = draw_outcomes(rng, cust, inv, default_rate, shape)
    progress("outcomes")
    payments, adjustments = settlements(rng, inv, out, end)
    progress("payments")
    progress("adjustments")
    actions = collection_actions(rng, inv, out, end)
    progress("actions")
    # Rates drawn last, so the other tables are the same whatever the base currency.
    currencies = sorted(set(cust.frame["currency"].dropna()))
    base = base_currency or get_settings().base_currency
    drawn = {
        # No collector assigned (the team's queue): the column is there, empty.
        "customers": cust.frame.assign(collector=None),
        "invoices": invoice_frame(inv, out, end),
        "payments": payments,
        "adjustments": adjustments,
        "actions": actions,
        "exchange_rates": draw_rates(rng, currencies, start, end, base),
    }
    frames = {name: _canonical(name, frame) for name, frame in drawn.items()}
    counts = ", ".join(f"{len(frame):,} {name}" for name, frame in frames.items())
    logger.info("Generated (profile %s) %s", shape.name, counts)
    return frames


def _check_sizes(customers: int, years: float, default_rate: float | None) -> None:
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    if not 0.05 <= years <= 50:
        raise ValueError(f"years must be between 0.05 and 50, got {years}")
    if default_rate is not None and not 0.0 <= default_rate < 0.5:
        raise ValueError(f"default_rate must be in [0, 0.5), got {default_rate}")


def write_ledger(
    frames: Mapping[str, pd.DataFrame], out_dir: Path, *, fmt: str = "csv"
) -> dict[str, Path]:
    """Write frames as `<table>.csv` or `<table>.parquet` in the canonical import format.

    Dates are ISO `YYYY-MM-DD`, booleans `true`/`false`, missing values empty. Each file
    is written to a temporary name and renamed, so a crash never leaves half a file.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        table = _arrow_table(name, frame)
        path = out_dir / f"{name}.{fmt}"
        # Not mkstemp: its 0600 mode would survive the rename; this file honours the umask.
        tmp = out_dir / f".{name}.{os.getpid()}.tmp"
        try:
            if fmt == "csv":
                pacsv.write_csv(table, str(tmp), pacsv.WriteOptions(quoting_style="needed"))
            else:
                pq.write_table(table, str(tmp))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths[name] = path
    return paths


def _canonical(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table's canonical columns in order; those not drawn are left empty.

    Flags not drawn are False; original amounts and rates are filled by the import.
    """
    spec = TABLES[name]
    missing = {
        c.name: False if c.kind == "bool" else None
        for c in spec.columns
        if c.name not in frame.columns
    }
    return frame.assign(**missing)[spec.column_names]


def _arrow_table(name: str, frame: pd.DataFrame) -> pa.Table:
    """Canonical columns with file-friendly types: dates as date32, datetimes ISO text."""
    columns = {}
    for column in TABLES[name].columns:
        if not column.required and column.name not in frame.columns:
            continue  # an optional column the frame does not carry stays out of the file
        values = frame[column.name]
        if column.kind == "date":
            columns[column.name] = pa.array(values.dt.date, type=pa.date32())
        elif column.kind == "datetime":
            text = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            columns[column.name] = pa.array(text.where(values.notna(), None), type=pa.string())
        elif column.kind == "int":
            columns[column.name] = pa.array(values.astype("Int64"), type=pa.int64())
        else:
            columns[column.name] = pa.array(values, from_pandas=True)
    return pa.table(columns)
