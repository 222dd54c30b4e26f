"""Synthetic ledger tables from drawn outcomes: payments, adjustments, actions, invoices.

The last stages of `features.synthetic.generate_ledger`; nothing dated after the end
date is written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.synthetic_customers import sequential_ids
from features.synthetic_invoices import Invoices, Outcomes
from features.synthetic_schedules import plan_payments
from kernel.schema import TABLES

__all__ = ["collection_actions", "invoice_frame", "settlements"]

_AUTHORS = np.array(["ana", "ben", "chloe", "dev", "emma"])


def settlements(
    rng: np.random.Generator, inv: Invoices, out: Outcomes, end: np.datetime64
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The payments and adjustments tables (credit notes, write-offs) up to `end`."""
    amount = inv.amount
    credit = np.round(amount * out.credit_share, 2)
    first = np.round((amount - credit) * out.partial, 2)
    rest = np.round(amount - credit - first, 2)
    written = ~np.isnat(out.write_off)
    parts = [(first > 0, first, out.partial_date)]
    pays_rest = ~written & (rest > 0)
    if out.plan_parts is None:
        parts.append((pays_rest, rest, out.settle))
    else:
        parts += plan_payments(rest, pays_rest, inv.issue, out.settle, out.plan_parts)
    payments = _events(inv, parts, end, "payment_date")
    payments.insert(0, "payment_id", sequential_ids("PAY-", len(payments)))
    payments = payments[[c for c in TABLES["payments"].column_names if c in payments.columns]]

    kinds = [
        (credit > 0, credit, out.credit_date, "credit_note"),
        (written, np.round(amount - first, 2), out.write_off, "write_off"),
    ]
    frames = []
    for mask, value, day, kind in kinds:
        part = _events(inv, [(mask, value, day)], end, "date")
        part["kind"] = kind
        frames.append(part)
    adjustments = pd.concat(frames, ignore_index=True).sort_values(["date", "invoice_id"])
    adjustments.insert(0, "adjustment_id", sequential_ids("ADJ-", len(adjustments)))
    drawn = [c for c in TABLES["adjustments"].column_names if c in adjustments.columns]
    return payments, adjustments[drawn].reset_index(drop=True)


def _events(
    inv: Invoices,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    end: np.datetime64,
    date_column: str,
) -> pd.DataFrame:
    """Money events (mask, amount, date) per invoice, dated on or before `end`, by date."""
    rows = []
    for mask, value, day in parts:
        keep = mask & ~np.isnat(day) & (day <= end)
        idx = np.flatnonzero(keep)
        rows.append(
            pd.DataFrame(
                {
                    "invoice_id": inv.ids[idx],
                    "customer_id": inv.customer_ids[idx],
                    date_column: day[idx].astype("datetime64[ns]"),
                    "amount": value[idx],
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    return frame.sort_values([date_column, "invoice_id"], kind="stable").reset_index(drop=True)


def collection_actions(
    rng: np.random.Generator, inv: Invoices, out: Outcomes, end: np.datetime64
) -> pd.DataFrame:
    """The actions table: reminders, calls, promises, disputes, legal steps up to `end`."""
    k = len(inv.amount)
    closes = np.where(np.isnat(out.settle), out.write_off, out.settle)
    closes = np.where(np.isnat(closes), end + np.timedelta64(1, "D"), closes)
    overdue_days = (closes - inv.due).astype(int)
    call_day = inv.due + rng.integers(7, 15, k).astype("timedelta64[D]")
    calls = (overdue_days > 7) & (call_day < closes) & (rng.random(k) < 0.35)
    promises = calls & (rng.random(k) < 0.5)
    kept = promises & ~out.defaults & (rng.random(k) < 0.8)
    promised = np.where(kept, closes, call_day + rng.integers(5, 16, k).astype("timedelta64[D]"))
    legal_day = inv.due + rng.integers(31, 61, k).astype("timedelta64[D]")
    kinds = [
        ("reminder", (overdue_days > 0) & (rng.random(k) < 0.25), inv.due + 1),
        ("call", calls, call_day),
        ("promise", promises, call_day),
        ("dispute", out.disputed & (rng.random(k) < 0.5), out.dispute_date),
        ("legal", out.defaults & (legal_day < closes) & (rng.random(k) < 0.5), legal_day),
    ]
    texts = {
        "reminder": "Payment reminder sent",
        "call": "Called accounts payable",
        "promise": "Customer promised to pay",
        "dispute": "Customer disputes the invoice",
        "legal": "Handed over to legal collection",
    }
    frames = []
    for kind, mask, day in kinds:
        idx = np.flatnonzero(mask & (day <= end))
        minutes = rng.integers(8 * 60, 17 * 60, len(idx)).astype("timedelta64[m]")
        is_promise = kind == "promise"
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": inv.customer_ids[idx],
                    "invoice_id": inv.ids[idx],
                    "at": (day[idx].astype("datetime64[m]") + minutes).astype("datetime64[ns]"),
                    "kind": kind,
                    "promised_date": (
                        promised[idx] if is_promise else np.full(len(idx), np.datetime64("NaT"))
                    ).astype("datetime64[ns]"),
                    "promised_amount": inv.amount[idx] if is_promise else np.nan,
                    "author": _AUTHORS[rng.integers(0, len(_AUTHORS), len(idx))],
                    "text": texts[kind],
                }
            )
        )
    actions = pd.concat(frames, ignore_index=True).sort_values(["at", "invoice_id"], kind="stable")
    actions.insert(0, "action_id", sequential_ids("ACT-", len(actions)))
    actions = actions.reset_index(drop=True)
    actions["at"] = actions["at"].dt.tz_localize("UTC")
    return actions.assign(outcome=None)  # no resolutions


def invoice_frame(inv: Invoices, out: Outcomes, end: np.datetime64) -> pd.DataFrame:
    """The invoices table; a dispute dated after `end` is not yet known."""
    disputed = out.disputed & (out.dispute_date <= end)
    return pd.DataFrame(
        {
            "invoice_id": inv.ids,
            "customer_id": inv.customer_ids,
            "issue_date": inv.issue.astype("datetime64[ns]"),
            "due_date": inv.due.astype("datetime64[ns]"),
            "amount": inv.amount,
            "currency": inv.currency,
            "disputed": disputed,
            "dispute_date": np.where(disputed, out.dispute_date, np.datetime64("NaT")).astype(
                "datetime64[ns]"
            ),
        }
    )
