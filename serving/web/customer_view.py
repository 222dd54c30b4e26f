"""The customer page's data: profile, scored open invoices, ledger history, action log.

The profile and the invoices come from the serving state through the API's own use
cases (`customer_view`, `score_invoices`), so the page shows the numbers the API gives.
The charts and the full action log need what the state does not keep (paid invoices, every
action): `read_history` reads the one customer's ledger from the store, in a threadpool.

Charts (drawn by static/charts.js from data attributes):
- days late per paid invoice: a scatter, x = the invoice's due date in months before the
  serving date (negative numbers; the axis is titled so), y = settled date − due date.
- open balance: a line of the open amount at each month end (the last point: the day
  before the serving date), over `HISTORY_MONTHS` months.
Both use the ledger as known at the start of the serving date (`Ledger.before`), the
cut the features and the open invoices use; the action log shows every stored action.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from features.ledger import read_ledger
from features.timeline import invoice_timeline
from serving.decisions.scores import payment_date
from serving.schemas import ActionOut, CustomerOut, InvoiceScoreOut
from serving.state import ServingState
from serving.usecases.customers import customer_view
from serving.usecases.invoices import score_invoices
from serving.usecases.present import action_out

__all__ = [
    "ACTIONS_SHOWN",
    "HISTORY_MONTHS",
    "CustomerHistory",
    "CustomerPage",
    "InvoiceRow",
    "customer_page",
    "invoice_rows",
    "payment_day",
    "read_history",
]

# Actions listed on the page, newest first (a note says when there are more).
ACTIONS_SHOWN = 100
# Months of paid invoices and month-end balances drawn.
HISTORY_MONTHS = 24
_DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class InvoiceRow:
    """One open invoice as the page shows it: the API's scores and its next step."""

    score: InvoiceScoreOut
    issue_date: dt.date
    days_overdue: int
    paid_by: dt.date  # predicted payment date (due + p50), never before today
    paid_from: dt.date  # interval: due + p10 .. due + p90, never before today
    paid_to: dt.date
    step: str
    step_reason: str


@dataclass(frozen=True)
class CustomerHistory:
    """What the store holds beyond the serving state: paid invoices, balances, all actions."""

    # (due date, months before the serving date, days late), oldest due date first.
    paid: list[tuple[dt.date, float, int]] = field(default_factory=list)
    # (month "YYYY-MM", open amount at its end), oldest first; the last point is the day
    # before the serving date ("YYYY-MM-DD").
    balance: list[tuple[str, float]] = field(default_factory=list)
    actions: list[ActionOut] = field(default_factory=list)  # newest first, capped
    action_count: int = 0
    collector: str | None = None

    @property
    def paid_late(self) -> int:
        """Paid invoices settled after their due date."""
        return sum(1 for _, _, late in self.paid if late > 0)

    @property
    def paid_median(self) -> float | None:
        """Median days late of the paid invoices (None without any)."""
        if not self.paid:
            return None
        return float(pd.Series([late for _, _, late in self.paid]).median())


@dataclass(frozen=True)
class CustomerPage:
    """Everything the customer page shows."""

    customer: CustomerOut
    invoices: list[InvoiceRow]
    terms_days: float | None
    collector: str | None
    history: CustomerHistory


def payment_day(day: dt.date, days_late: float, today: dt.date) -> dt.date:
    """The day an invoice due on `day` is paid when `days_late` late, never before `today`."""
    # A quantile of an invoice not yet due may fall before today; it cannot be paid then.
    return max(payment_date(day, days_late), today)


def invoice_rows(state: ServingState, customer_id: str) -> list[InvoiceRow]:
    """The customer's open invoices, oldest due date first, scored as the API scores them."""
    entry = state.entry(customer_id)
    ids = [inv.invoice_id for inv in entry.invoices]
    scored = score_invoices(
        state, invoice_ids=ids, new_invoices=[], owner_of=lambda _: customer_id
    ).data
    steps = {s.invoice_id: s for s in entry.item.invoices} if entry.item else {}
    today = state.as_of
    rows = []
    for k, (inv, score) in enumerate(zip(entry.invoices, scored, strict=True)):
        step = steps.get(inv.invoice_id)
        rows.append(
            InvoiceRow(
                score=score,
                issue_date=entry.issue_dates[k],
                days_overdue=inv.days_overdue(today),
                paid_by=payment_day(inv.due_date, score.days_late.p50, today),
                paid_from=payment_day(inv.due_date, score.days_late.p10, today),
                paid_to=payment_day(inv.due_date, score.days_late.p90, today),
                step="" if step is None else step.action,
                step_reason="" if step is None else step.reason,
            )
        )
    rows.sort(key=lambda r: (r.score.due_date, r.score.invoice_id))
    return rows


def _month_ends(as_of: dt.date, months: int) -> list[tuple[str, dt.date]]:
    """(label, day) of the last `months` month ends before `as_of`, the last one being
    the day before `as_of` (the latest day the ledger is known for)."""
    last = as_of - dt.timedelta(days=1)
    # The latest point is a day, not a month end (unless it is one).
    out = [(f"{last:%Y-%m-%d}", last)]
    end = last.replace(day=1) - dt.timedelta(days=1)
    while len(out) < months:
        out.append((f"{end:%Y-%m}", end))
        end = end.replace(day=1) - dt.timedelta(days=1)
    return out[::-1]


def _frame_value(value: object) -> object:
    """A frame cell as a plain Python value: NaN/NaT as None, timestamps as datetimes."""
    if value is None or pd.isna(value):  # a scalar cell: NaN, NaT or NA
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _actions(frame: pd.DataFrame) -> tuple[list[ActionOut], int]:
    if frame.empty:
        return [], 0
    newest = frame.sort_values("at", ascending=False, kind="stable").head(ACTIONS_SHOWN)
    out = []
    for record in newest.to_dict("records"):
        values = {k: _frame_value(v) for k, v in record.items()}
        at = values["at"]
        if isinstance(at, dt.datetime) and at.tzinfo is None:
            values["at"] = at.replace(tzinfo=dt.UTC)  # stored in UTC
        promised = values.get("promised_date")
        if isinstance(promised, dt.datetime):
            values["promised_date"] = promised.date()
        out.append(action_out(values))
    return out, len(frame)


def read_history(
    engine: sa.Engine, customer_id: str, *, as_of: dt.date, months: int = HISTORY_MONTHS
) -> CustomerHistory:
    """The customer's paid invoices, month-end balances and actions (one store read)."""
    ledger, _ = read_ledger(engine, customer_ids=[customer_id])
    actions, count = _actions(ledger.actions)
    collectors = ledger.customers["collector"].dropna().astype("str").str.strip()
    collector = next((c for c in collectors if c), None)
    timeline = invoice_timeline(ledger.before(as_of))
    inv, steps = timeline.invoices, timeline.steps
    ends = _month_ends(as_of, months)
    start = pd.Timestamp(ends[0][1].replace(day=1))
    paid_rows = inv[inv["settled_date"].notna() & (inv["due_date"] >= start)]
    paid_rows = paid_rows.sort_values(["due_date", "invoice_id"], kind="stable")
    today = pd.Timestamp(as_of)
    paid = [
        (
            due.date(),
            round((due - today).days / _DAYS_PER_MONTH, 2),
            int((settled - due).days),
        )
        for due, settled in zip(paid_rows["due_date"], paid_rows["settled_date"], strict=True)
    ]
    balance = []
    for label, day in ends:
        cut = pd.Timestamp(day)
        issued = float(inv.loc[inv["issue_date"] <= cut, "amount"].sum())
        reduced = float(steps.loc[steps["date"] <= cut, "reduction"].sum())
        balance.append((label, round(max(issued - reduced, 0.0), 2)))
    return CustomerHistory(
        paid=paid, balance=balance, actions=actions, action_count=count, collector=collector
    )


def customer_page(state: ServingState, customer_id: str, history: CustomerHistory) -> CustomerPage:
    """The page of one customer (raises UnknownEntityError for an unknown id)."""
    entry = state.entry(customer_id)
    terms = entry.features.get("customer_payment_terms_days")
    collector = entry.item.collector if entry.item else None
    return CustomerPage(
        customer=customer_view(state, customer_id),
        invoices=invoice_rows(state, customer_id),
        terms_days=float(terms) if isinstance(terms, int | float) else None,
        collector=collector or history.collector,
        history=history,
    )
