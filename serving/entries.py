"""Building what is served of each customer: features, scored open invoices, actions.

`build_entries` turns a ledger into one `CustomerEntry` per customer as of a date; the
`ServingState` (`serving.state`) holds them. Features come from the one feature module:
`customer_state` for the customer-level features, `build_open_invoice_rows` for open
invoices, and `features.online.new_invoice_features` for a typical new invoice; so a
served row equals the feature module's row for the same customer and date.

Features are point-in-time, as in training: a decision on day D uses the events dated
before D. An event dated D itself counts from D + 1 (payments and invoices of earlier
dates, the usual ERP feed, count at once).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from features.build import DEFAULT_TERMS_DAYS, customer_state_and_open_rows
from features.ledger import Ledger, day_timestamp
from features.online import new_invoice_features, state_records
from kernel.policy import PolicySettings
from serving.decisions.grades import CustomerGrade, assess_grade, customer_grade
from serving.decisions.limits import CreditLimit, monthly_sales_estimate, suggest_credit_limit
from serving.decisions.records import ActionRecord, OpenInvoice
from serving.decisions.scores import InvoiceScores
from serving.decisions.worklist import WorklistItem, worklist_item
from serving.exposure import NOTHING_TODAY, LedgerToday, ledger_today
from serving.reasons import (
    CUSTOMER_LEVEL,
    TOP_REASONS,
    Reason,
    RiskTarget,
    explain,
    feature_values,
    risk_target,
)
from training.bundle import Bundle

__all__ = ["FALLBACK_TYPICAL_AMOUNT", "CustomerEntry", "TypicalScore", "build_entries"]

logger = logging.getLogger(__name__)

# Actions kept per customer for display (the latest first), beside those that decide its
# dunning (`_deciding`).
_RECENT_ACTIONS = 20
# The logged kinds whose latest one decides dunning (`serving.decisions.dunning`): the
# latest promise per invoice (and customer-wide) and the latest of each ladder step.
_LATEST_DECIDES = ("promise", "reminder", "call", "legal")
# A typical new invoice of a customer without history: the median over all customers.
FALLBACK_TYPICAL_AMOUNT = 1_000.0


@dataclass(frozen=True)
class TypicalScore:
    """Scores of a typical new invoice of the customer (its usual amount, its terms)."""

    amount: float
    x: np.ndarray  # (1, n_features) model row
    scores: InvoiceScores
    grade: str
    grade_reason: str
    target: RiskTarget  # what `scores.p_default` is the probability of
    # The largest contributions behind the score, in words (the customer's risk factors).
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class CustomerEntry:
    """One customer as served: attributes, features, open invoices, actions, worklist item."""

    customer_id: str
    name: str
    currency: str | None
    credit_limit: float | None
    features: dict[str, object]  # customer-level features as of the serving date
    invoices: tuple[OpenInvoice, ...]  # open invoices with scores
    invoice_x: np.ndarray  # their model rows (same order), for reasons
    issue_dates: tuple[dt.date, ...]
    amounts: tuple[float, ...]
    actions: tuple[ActionRecord, ...]  # most recent last
    typical: TypicalScore
    limit: CreditLimit  # suggested credit limit
    item: WorklistItem | None  # None without open invoices
    grade: CustomerGrade  # the customer's one grade of the day (`customer_grade`)
    # The serving day's own events, which features leave out but exposure counts.
    today: LedgerToday = NOTHING_TODAY

    @property
    def open_amount(self) -> float:
        """Amount owed in total."""
        return float(sum(inv.open_amount for inv in self.invoices))

    def overdue_amount(self, as_of: dt.date) -> float:
        """Amount past due at `as_of`."""
        return float(sum(i.open_amount for i in self.invoices if i.due_date < as_of))


def _number(value: object) -> float:
    """A number column's value: `state_records` and `_column` give it as a Python int or float."""
    assert isinstance(value, int | float), f"expected a number, got {value!r}"
    return value


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    """A column as Python values, missing ones as None."""
    col = frame[name]
    values = col.astype("object").where(col.notna(), None)
    return values.tolist()


def _deciding(ordered: pd.DataFrame, as_of: dt.date) -> np.ndarray:
    """Which of `ordered` (actions, oldest first) decide dunning, however many came after.

    Disputes and resolutions (an open dispute pauses dunning), the latest promise with a
    date per invoice and customer-wide, and the latest reminder, call and escalation of
    the customer: kept among the last `_RECENT_ACTIONS` alone, a promise followed by 20
    reminders of other invoices stopped pausing what it covers. The latest on or before
    `as_of` (what dunning reads: `actions_until`) and the latest of all are both kept.
    """
    kind = ordered["kind"].astype("str")
    kept = kind.isin(("dispute", "resolve")).to_numpy(copy=True)  # written below
    latest = (
        kind.isin(_LATEST_DECIDES) & ((kind != "promise") | ordered["promised_date"].notna())
    ).to_numpy()
    invoice = ordered["invoice_id"].astype("object").where(kind == "promise", None)
    keys = pd.DataFrame(
        {
            "customer_id": ordered["customer_id"].astype("str").to_numpy(),
            "kind": kind.to_numpy(),
            "invoice": invoice.fillna("").to_numpy(),  # a ladder step: customer-wide
        }
    )
    until = (ordered["at"] < day_timestamp(as_of + dt.timedelta(days=1))).to_numpy()
    for among in (latest, latest & until):
        rows = np.flatnonzero(among)
        kept[rows[~keys.iloc[rows].duplicated(keep="last").to_numpy()]] = True
    return kept


def _actions_by_customer(
    actions: pd.DataFrame, as_of: dt.date
) -> dict[str, tuple[ActionRecord, ...]]:
    if actions.empty:
        return {}
    ordered = actions.sort_values("at", kind="stable")
    recent = ordered.groupby("customer_id", sort=False).cumcount(ascending=False) < _RECENT_ACTIONS
    ordered = ordered[_deciding(ordered, as_of) | recent.to_numpy()]
    # Column-wise conversion: a row-wise loop over ~10^5 actions took tens of seconds.
    at = [ts.replace(tzinfo=dt.UTC) for ts in ordered["at"].dt.to_pydatetime()]
    promised = [None if pd.isna(d) else d.date() for d in ordered["promised_date"].astype("object")]
    out: dict[str, list[ActionRecord]] = defaultdict(list)
    for cid, kind, when, inv, pdate, pamount, author, text, outcome in zip(
        ordered["customer_id"].astype("str").tolist(),
        ordered["kind"].astype("str").tolist(),
        at,
        _column(ordered, "invoice_id"),
        promised,
        _column(ordered, "promised_amount"),
        _column(ordered, "author"),
        _column(ordered, "text"),
        _column(ordered, "outcome"),
        strict=True,
    ):
        out[cid].append(
            ActionRecord(
                customer_id=cid,
                kind=kind,
                at=when,
                invoice_id=None if inv is None else str(inv),
                promised_date=pdate,
                promised_amount=None if pamount is None else float(pamount),
                author=None if author is None else str(author),
                text=None if text is None else str(text),
                outcome=None if outcome is None else str(outcome),
            )
        )
    return {k: tuple(v) for k, v in out.items()}


def _typical_scores(
    bundle: Bundle,
    policy: PolicySettings,
    records: dict[str, dict[str, object]],
    *,
    as_of: dt.date,
    fallback_amount: float,
) -> dict[str, TypicalScore]:
    ids = list(records)
    if not ids:
        return {}
    target = risk_target(bundle)
    amounts, rows = [], []
    for cid in ids:
        usual = records[cid].get("customer_median_invoice_amount")
        usual = None if usual is None else _number(usual)
        amount = float(usual) if usual is not None and usual > 0 else fallback_amount
        amounts.append(amount)
        rows.append(bundle.row(new_invoice_features(records[cid], amount=amount, as_of=as_of)))
    X = np.vstack(rows)
    scores = bundle.predict(X)
    # TreeSHAP costs milliseconds per row on a real model: computed here once per
    # customer (and per refresh), never per order.
    contributions = bundle.contributions(X)
    out = {}
    for k, cid in enumerate(ids):
        score = InvoiceScores.at(scores, k)
        grade = assess_grade(score.p_default, score.days_late_p50, policy=policy, target=target)
        out[cid] = TypicalScore(
            amount=amounts[k],
            x=X[k : k + 1],
            scores=score,
            grade=grade.grade,
            grade_reason=grade.reason,
            target=target,
            reasons=tuple(
                explain(
                    contributions[k],
                    feature_values(bundle, X[k]),
                    feature_columns=bundle.feature_columns,
                    top=TOP_REASONS,
                    levels=CUSTOMER_LEVEL,  # its invoice features are made up
                )
            ),
        )
    return out


def _open_invoices(
    rows: pd.DataFrame, bundle: Bundle, *, as_of: dt.date, target: RiskTarget
) -> tuple[np.ndarray, list[OpenInvoice], list[dt.date], list[float]]:
    """The open invoices' model rows, scores (as unpaid on `as_of`), issue dates and amounts."""
    if not len(rows):
        return np.empty((0, len(bundle.feature_columns))), [], [], []
    X = bundle.matrix(rows)
    scores = bundle.predict(X)
    ids = rows["invoice_id"].astype("str").to_numpy()
    customers = rows["customer_id"].astype("str").to_numpy()
    due = rows["due_date"].dt.date.to_numpy()
    open_amount = rows["open_amount"].to_numpy(dtype="float64")
    disputed = rows["invoice_disputed"].to_numpy(dtype="int64")
    unpaid = partial(InvoiceScores.open_on, as_of=as_of, horizon_days=bundle.horizon_days)
    invoices = [
        OpenInvoice(
            invoice_id=ids[k],
            customer_id=customers[k],
            due_date=due[k],
            open_amount=float(open_amount[k]),
            disputed=bool(disputed[k]),
            **vars(unpaid(InvoiceScores.at(scores, k), due_date=due[k], target=target)),
        )
        for k in range(len(rows))
    ]
    issue = list(rows["issue_date"].dt.date.to_numpy())
    amounts = [float(a) for a in rows["amount"].to_numpy(dtype="float64")]
    return X, invoices, issue, amounts


def _credit_limit(
    record: dict[str, object],
    typical: TypicalScore,
    current: float | None,
    policy: PolicySettings,
    *,
    grade: str,
) -> CreditLimit:
    terms = record.get("customer_payment_terms_days")
    median = record.get("customer_median_invoice_amount")
    return suggest_credit_limit(
        monthly_sales=monthly_sales_estimate(
            invoice_count=int(_number(record["customer_invoice_count"])),
            median_invoice_amount=None if median is None else _number(median),
            tenure_days=float(_number(record["customer_tenure_days"])),
        ),
        terms_days=float(_number(terms)) if terms is not None else DEFAULT_TERMS_DAYS,
        p_default=typical.scores.p_default,
        policy=policy,
        current_limit=current,
        history_invoices=int(_number(record["history_settled_count"])),
        days_late_p50=typical.scores.days_late_p50,
        target=typical.target,
        typical_invoice=None if median is None else _number(median),
        grade=grade,
    )


def _collector(value: object) -> str | None:
    """The assigned collector's name; None (the team's queue) when blank."""
    return str(value).strip() or None if value is not None else None


def _attributes(customers: pd.DataFrame) -> dict[str, tuple[object, object, object, object]]:
    """Customer id -> (name, currency, credit limit, collector), missing ones as None."""
    customers = customers.drop_duplicates("customer_id")
    return dict(
        zip(
            customers["customer_id"].astype("str").tolist(),
            zip(
                _column(customers, "name"),
                _column(customers, "currency"),
                _column(customers, "credit_limit"),
                _column(customers, "collector"),
                strict=True,
            ),
            strict=True,
        )
    )


def build_entries(
    ledger: Ledger,
    *,
    bundle: Bundle,
    policy: PolicySettings,
    as_of: dt.date,
    fallback_amount: float | None = None,
) -> tuple[dict[str, CustomerEntry], float]:
    """Serving entries of every customer of `ledger` as of `as_of`.

    Returns:
        The entries by customer id, and the typical amount used for customers without
        history (the median of the customers' usual invoice amounts, unless given).
    """
    state, rows = customer_state_and_open_rows(ledger, as_of=as_of)
    records = state_records(state)
    if fallback_amount is None:
        usual = state["customer_median_invoice_amount"].dropna()
        fallback_amount = float(usual.median()) if len(usual) else FALLBACK_TYPICAL_AMOUNT
    typical = _typical_scores(bundle, policy, records, as_of=as_of, fallback_amount=fallback_amount)
    target = risk_target(bundle)
    rows = rows[rows["customer_id"].astype("str").isin(records.keys())]
    X, invoices, issue, amounts = _open_invoices(rows, bundle, as_of=as_of, target=target)
    positions: dict[str, list[int]] = defaultdict(list)
    for k, inv in enumerate(invoices):
        positions[inv.customer_id].append(k)
    actions = _actions_by_customer(ledger.actions, as_of)
    attributes = _attributes(ledger.customers)
    today = ledger_today(ledger, as_of=as_of, window_days=policy.reservation_days)
    entries: dict[str, CustomerEntry] = {}
    item_of = partial(worklist_item, as_of=as_of, policy=policy, target=target)
    for cid, record in records.items():
        pos = positions.get(cid, [])
        own = tuple(invoices[k] for k in pos)
        acts = actions.get(cid, ())
        name, currency, limit, collector = attributes.get(cid, (None, None, None, None))
        current = None if limit is None else float(_number(limit))
        grade = customer_grade(
            own,
            typical[cid].scores,
            typical_amount=typical[cid].amount,
            as_of=as_of,
            horizon_days=bundle.horizon_days,
            policy=policy,
            target=target,
        )
        entries[cid] = CustomerEntry(
            customer_id=cid,
            name=cid if name is None else str(name),
            currency=None if currency is None else str(currency),
            credit_limit=current,
            features=record,
            invoices=own,
            invoice_x=X[pos] if pos else np.empty((0, X.shape[1])),
            issue_dates=tuple(issue[k] for k in pos),
            amounts=tuple(amounts[k] for k in pos),
            actions=acts,
            typical=typical[cid],
            limit=_credit_limit(record, typical[cid], current, policy, grade=grade.grade),
            item=item_of(
                cid, own, grade=grade.grade, actions=acts, collector=_collector(collector)
            ),
            grade=grade,
            today=today.get(cid, NOTHING_TODAY),
        )
    return entries, fallback_amount
