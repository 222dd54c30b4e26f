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
from kernel.errors import StoreError
from kernel.policy import PolicySettings
from serving.decisions.grades import assess_grade
from serving.decisions.limits import CreditLimit, monthly_sales_estimate, suggest_credit_limit
from serving.decisions.records import ActionRecord, OpenInvoice
from serving.decisions.scores import InvoiceScores
from serving.decisions.worklist import WorklistItem, worklist_item
from serving.reasons import TOP_REASONS, Reason, RiskTarget, explain, feature_values, risk_target
from training.bundle import Bundle

__all__ = ["CustomerEntry", "TypicalScore", "build_entries", "build_entries_isolated"]

logger = logging.getLogger(__name__)

# Actions kept per customer: the worklist needs the latest one and open promises.
_RECENT_ACTIONS = 20
# Customers `build_entries_isolated` sets aside before it gives up: beyond this many, the
# fault is not in a few customers' rows (a model that fails on every row, say), and
# isolating each would cost one build per customer.
_MAX_FAILED_CUSTOMERS = 20
# A typical new invoice of a customer without history: the median over all customers.
_FALLBACK_TYPICAL_AMOUNT = 1_000.0


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


def _actions_by_customer(actions: pd.DataFrame) -> dict[str, tuple[ActionRecord, ...]]:
    if actions.empty:
        return {}
    ordered = actions.sort_values("at", kind="stable")
    ordered = ordered.groupby("customer_id", sort=False).tail(_RECENT_ACTIONS)
    # Column-wise conversion: a row-wise loop over ~10^5 actions took tens of seconds.
    at = [ts.replace(tzinfo=dt.UTC) for ts in ordered["at"].dt.to_pydatetime()]
    promised = [None if pd.isna(d) else d.date() for d in ordered["promised_date"].astype("object")]
    out: dict[str, list[ActionRecord]] = defaultdict(list)
    for cid, kind, when, inv, pdate, pamount, author, text in zip(
        ordered["customer_id"].astype("str").tolist(),
        ordered["kind"].astype("str").tolist(),
        at,
        _column(ordered, "invoice_id"),
        promised,
        _column(ordered, "promised_amount"),
        _column(ordered, "author"),
        _column(ordered, "text"),
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
    record: dict[str, object], typical: TypicalScore, current: float | None, policy: PolicySettings
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
    )


def _attributes(customers: pd.DataFrame) -> dict[str, tuple[object, object, object]]:
    """Customer id -> (name, currency, credit limit), missing ones as None."""
    customers = customers.drop_duplicates("customer_id")
    return dict(
        zip(
            customers["customer_id"].astype("str").tolist(),
            zip(
                _column(customers, "name"),
                _column(customers, "currency"),
                _column(customers, "credit_limit"),
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
        fallback_amount = float(usual.median()) if len(usual) else _FALLBACK_TYPICAL_AMOUNT
    typical = _typical_scores(bundle, policy, records, as_of=as_of, fallback_amount=fallback_amount)
    target = risk_target(bundle)
    rows = rows[rows["customer_id"].astype("str").isin(records.keys())]
    X, invoices, issue, amounts = _open_invoices(rows, bundle, as_of=as_of, target=target)
    positions: dict[str, list[int]] = defaultdict(list)
    for k, inv in enumerate(invoices):
        positions[inv.customer_id].append(k)
    actions = _actions_by_customer(ledger.actions)
    attributes = _attributes(ledger.customers)
    entries: dict[str, CustomerEntry] = {}
    item_of = partial(worklist_item, as_of=as_of, policy=policy, target=target)
    for cid, record in records.items():
        pos = positions.get(cid, [])
        own = tuple(invoices[k] for k in pos)
        acts = actions.get(cid, ())
        name, currency, limit = attributes.get(cid, (None, None, None))
        current = None if limit is None else float(_number(limit))
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
            limit=_credit_limit(record, typical[cid], current, policy),
            item=item_of(cid, own, grade=typical[cid].grade, actions=acts),
        )
    return entries, fallback_amount


def _subset(ledger: Ledger, ids: list[str]) -> Ledger:
    """The part of `ledger` that belongs to the customers `ids`."""
    wanted = set(ids)
    invoices = ledger.invoices[ledger.invoices["customer_id"].astype("str").isin(wanted)]
    known = set(invoices["invoice_id"].astype("str"))
    return Ledger(
        customers=ledger.customers[ledger.customers["customer_id"].astype("str").isin(wanted)],
        invoices=invoices,
        payments=ledger.payments[ledger.payments["invoice_id"].astype("str").isin(known)],
        adjustments=ledger.adjustments[ledger.adjustments["invoice_id"].astype("str").isin(known)],
        actions=ledger.actions[ledger.actions["customer_id"].astype("str").isin(wanted)],
    )


def _usual_amount(ledger: Ledger, as_of: dt.date) -> float:
    """The median over customers of their median invoice amount issued before `as_of`.

    What `build_entries` derives from the customer features, computed from the ledger
    directly for when those features cannot be built for every customer at once.
    """
    issued = ledger.invoices[ledger.invoices["issue_date"] < day_timestamp(as_of)]
    usual = issued.groupby(issued["customer_id"].astype("str"))["amount"].median().dropna()
    return float(usual.median()) if len(usual) else _FALLBACK_TYPICAL_AMOUNT


def build_entries_isolated(
    ledger: Ledger,
    *,
    bundle: Bundle,
    policy: PolicySettings,
    as_of: dt.date,
    fallback_amount: float | None = None,
) -> tuple[dict[str, CustomerEntry], float, dict[str, str]]:
    """`build_entries`, where a customer whose entry cannot be built fails alone.

    All customers are built at once (the fast path); if that raises, the customers are
    split in halves, recursively, until the ones whose entry raises are found; every
    other customer is served.

    Returns:
        The entries by customer id, the typical amount for customers without history,
        and the customers that failed with the reason.
    """
    try:
        everyone, fallback = build_entries(
            ledger, bundle=bundle, policy=policy, as_of=as_of, fallback_amount=fallback_amount
        )
        return everyone, fallback, {}
    except Exception as exc:
        logger.warning(
            "Building the serving entries failed (%s: %s): looking for the customers at fault",
            type(exc).__name__,
            exc,
        )
    if fallback_amount is None:
        fallback_amount = _usual_amount(ledger, as_of)
    ids = sorted(
        set(ledger.customers["customer_id"].astype("str"))
        | set(ledger.invoices["customer_id"].astype("str"))
    )
    entries: dict[str, CustomerEntry] = {}
    failed: dict[str, str] = {}
    pending = [ids]
    while pending:
        group = pending.pop()
        try:
            built, _ = build_entries(
                _subset(ledger, group),
                bundle=bundle,
                policy=policy,
                as_of=as_of,
                fallback_amount=fallback_amount,
            )
        except Exception as exc:
            if len(group) == 1:
                failed[group[0]] = f"its serving state cannot be built: {type(exc).__name__}: {exc}"
                logger.exception("Customer %r is not served", group[0])
                if len(failed) > _MAX_FAILED_CUSTOMERS:
                    raise StoreError(
                        f"the serving state cannot be built for more than "
                        f"{_MAX_FAILED_CUSTOMERS} customers (e.g. {group[0]!r}: "
                        f"{type(exc).__name__}: {exc}): the fault is not in one customer's "
                        "rows; check the model bundle and the log"
                    ) from exc
            else:
                half = len(group) // 2
                pending += [group[:half], group[half:]]
            continue
        entries.update(built)
    return entries, fallback_amount, failed
