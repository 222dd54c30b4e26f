"""Batch use of the serving state from the command line: score files and the worklist.

`duecast score` and `duecast worklist` build the same `ServingState` the API serves
from (champion bundle, policy, every customer's features as of one date), so a file
of scores and the API answer alike for the same store, model and date.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from duecast.config import Settings
from features.store import get_engine
from serving.decisions.policy import Policy
from serving.state import ServingState, serving_date
from training.bundle import load_bundle

__all__ = ["SCORE_COLUMNS", "load_state", "open_invoice_scores"]

SCORE_COLUMNS = [
    "invoice_id",
    "customer_id",
    "due_date",
    "open_amount",
    "disputed",
    "p_default",
    "expected_loss",
    "days_late",
    "days_late_p10",
    "days_late_p50",
    "days_late_p90",
    "predicted_payment_date",
    "risk_grade",
]
# Computed here from the model's outputs rather than read off the served records.
_DERIVED = {"expected_loss", "predicted_payment_date"}


def load_state(settings: Settings, *, as_of: dt.date | None = None) -> ServingState:
    """The champion's view of the whole store as of `as_of` (default: the serving date)."""
    bundle = load_bundle(settings.models_dir / "champion")
    return ServingState.build(
        get_engine(settings.database_url),
        bundle=bundle,
        policy=Policy.from_settings(settings),
        as_of=as_of or serving_date(settings.serve_as_of),
    )


def open_invoice_scores(state: ServingState) -> pd.DataFrame:
    """One row per open invoice: scores, expected loss, predicted payment date, grade."""
    rows = []
    for entry in state.entries.values():
        for inv in entry.invoices:
            rows.append(
                {
                    "invoice_id": inv.invoice_id,
                    "customer_id": entry.customer_id,
                    "due_date": inv.due_date,
                    "open_amount": inv.open_amount,
                    "disputed": inv.disputed,
                    "p_default": inv.p_default,
                    "days_late": inv.days_late,
                    "days_late_p10": inv.days_late_p10,
                    "days_late_p50": inv.days_late_p50,
                    "days_late_p90": inv.days_late_p90,
                    "risk_grade": entry.typical.grade,
                }
            )
    frame = pd.DataFrame(rows, columns=[c for c in SCORE_COLUMNS if c not in _DERIVED])
    frame["expected_loss"] = (frame["open_amount"] * frame["p_default"]).round(2)
    due = pd.to_datetime(frame["due_date"])
    frame["due_date"] = due
    frame["predicted_payment_date"] = due + pd.to_timedelta(
        frame["days_late_p50"].round(), unit="D"
    )
    return frame[SCORE_COLUMNS].sort_values("invoice_id", kind="stable").reset_index(drop=True)
