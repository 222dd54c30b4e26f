"""What a serving worker keeps in memory: per-customer features, scored open invoices, actions.

Built once from the store when the app starts (`ServingState.build`), then kept current
customer by customer: a write through the API or `duecast import` appends to the change
log (`features.changes`), and every worker, on its next request, reloads only the
customers named there (`ServingState.sync`). Features come from the one feature module:
`customer_state` for the customer-level features, `build_open_invoice_rows` for open
invoices, and `features.online.new_invoice_features` for a new order; so a served row
equals the feature module's row for the same customer and date, before and after events.

Features are point-in-time, as in training: a decision on day D uses the events dated
before D. An event dated D itself counts from D + 1 (payments and invoices of earlier
dates, the usual ERP feed, count at once).
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from duecast.errors import CustomerUnavailableError, StoreError, UnknownEntityError
from features.build import DEFAULT_TERMS_DAYS, customer_state_and_open_rows
from features.ledger import Ledger, UnreadableRow, day_timestamp, read_ledger
from features.online import new_invoice_features, state_records
from serving.decisions.grades import assess_grade
from serving.decisions.limits import CreditLimit, monthly_sales_estimate, suggest_credit_limit
from serving.decisions.policy import Policy
from serving.decisions.records import ActionRecord, OpenInvoice
from serving.decisions.worklist import WORK_ACTIONS, WorklistItem, rank_worklist
from serving.reasons import TOP_REASONS, Reason, explain, feature_values
from serving.writes import changes_since, latest_seq
from training.bundle import Bundle, Scores

__all__ = [
    "CustomerEntry",
    "ServingState",
    "TypicalScore",
    "build_entries",
    "build_entries_isolated",
    "serving_date",
]

logger = logging.getLogger(__name__)

# Actions kept per customer: the worklist needs the latest one and open promises.
_RECENT_ACTIONS = 20
# Customers `build_entries_isolated` sets aside before it gives up: beyond this many, the
# fault is not in a few customers' rows (a model that fails on every row, say), and
# isolating each would cost one build per customer.
_MAX_FAILED_CUSTOMERS = 20
# A typical new invoice of a customer without history: the median over all customers.
_FALLBACK_TYPICAL_AMOUNT = 1_000.0


def serving_date(pinned: dt.date | None) -> dt.date:
    """The day decisions are made as of: `pinned`, else today (UTC)."""
    return pinned or dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class TypicalScore:
    """Scores of a typical new invoice of the customer (its usual amount, its terms)."""

    amount: float
    x: np.ndarray  # (1, n_features) model row
    p_default: float
    days_late: float
    days_late_p10: float
    days_late_p50: float
    days_late_p90: float
    grade: str
    grade_reason: str
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


def _f(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


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
                promised_amount=None if pamount is None else float(pamount),  # type: ignore[arg-type]
                author=None if author is None else str(author),
                text=None if text is None else str(text),
            )
        )
    return {k: tuple(v) for k, v in out.items()}


def _typical_scores(
    bundle: Bundle,
    policy: Policy,
    records: dict[str, dict[str, object]],
    *,
    as_of: dt.date,
    fallback_amount: float,
) -> dict[str, TypicalScore]:
    ids = list(records)
    if not ids:
        return {}
    amounts = []
    rows = []
    for cid in ids:
        usual = records[cid].get("customer_median_invoice_amount")
        amount = float(usual) if usual is not None and usual > 0 else fallback_amount  # type: ignore[operator]
        amounts.append(amount)
        rows.append(bundle.row(new_invoice_features(records[cid], amount=amount, as_of=as_of)))
    X = np.vstack(rows)
    scores = bundle.predict(X)
    # TreeSHAP costs milliseconds per row on a real model: computed here once per
    # customer (and per refresh), never per order.
    contributions = bundle.contributions(X)
    out = {}
    for k, cid in enumerate(ids):
        grade = assess_grade(
            scores.p_default[k],
            scores.days_late_p50[k],
            policy=policy,
            thresholds=bundle.thresholds,
        )
        out[cid] = TypicalScore(
            amount=amounts[k],
            x=X[k : k + 1],
            p_default=float(scores.p_default[k]),
            days_late=float(scores.days_late[k]),
            days_late_p10=float(scores.days_late_p10[k]),
            days_late_p50=float(scores.days_late_p50[k]),
            days_late_p90=float(scores.days_late_p90[k]),
            grade=grade.grade,
            grade_reason=grade.reason,
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
    rows: pd.DataFrame, scores: Scores
) -> tuple[list[OpenInvoice], list[dt.date], list[float]]:
    ids = rows["invoice_id"].astype("str").to_numpy()
    customers = rows["customer_id"].astype("str").to_numpy()
    due = rows["due_date"].dt.date.to_numpy()
    issue = rows["issue_date"].dt.date.to_numpy()
    open_amount = rows["open_amount"].to_numpy(dtype="float64")
    amount = rows["amount"].to_numpy(dtype="float64")
    disputed = rows["invoice_disputed"].to_numpy(dtype="int64")
    invoices = [
        OpenInvoice(
            invoice_id=ids[k],
            customer_id=customers[k],
            due_date=due[k],
            open_amount=float(open_amount[k]),
            p_default=float(scores.p_default[k]),
            days_late=float(scores.days_late[k]),
            days_late_p10=float(scores.days_late_p10[k]),
            days_late_p50=float(scores.days_late_p50[k]),
            days_late_p90=float(scores.days_late_p90[k]),
            disputed=bool(disputed[k]),
        )
        for k in range(len(rows))
    ]
    return invoices, list(issue), [float(a) for a in amount]


def _worklist_item(
    customer_id: str,
    invoices: tuple[OpenInvoice, ...],
    actions: tuple[ActionRecord, ...],
    grade: str,
    *,
    as_of: dt.date,
    policy: Policy,
    bundle: Bundle,
) -> WorklistItem | None:
    if not invoices:
        return None
    worklist = rank_worklist(
        invoices,
        as_of=as_of,
        policy=policy,
        actions=actions,
        grades={customer_id: grade},
        thresholds=bundle.thresholds,
    )
    found = (*worklist.items, *worklist.overflow, *worklist.waiting)
    return found[0] if found else None


def _credit_limit(
    record: dict[str, object], typical: TypicalScore, current: float | None, policy: Policy
) -> CreditLimit:
    terms = record.get("customer_payment_terms_days")
    return suggest_credit_limit(
        monthly_sales=monthly_sales_estimate(
            invoice_count=int(record["customer_invoice_count"]),  # type: ignore[call-overload]
            median_invoice_amount=record.get("customer_median_invoice_amount"),  # type: ignore[arg-type]
            tenure_days=float(record["customer_tenure_days"]),  # type: ignore[arg-type]
        ),
        terms_days=float(terms) if terms is not None else DEFAULT_TERMS_DAYS,  # type: ignore[arg-type]
        p_default=typical.p_default,
        policy=policy,
        current_limit=current,
        history_invoices=int(record["history_settled_count"]),  # type: ignore[call-overload]
        days_late_p50=typical.days_late_p50,
    )


def build_entries(
    ledger: Ledger,
    *,
    bundle: Bundle,
    policy: Policy,
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
    rows = rows[rows["customer_id"].astype("str").isin(records.keys())]
    X = bundle.matrix(rows) if len(rows) else np.empty((0, len(bundle.feature_columns)))
    scores = bundle.predict(X) if len(rows) else None
    invoices, issue, amounts = _open_invoices(rows, scores) if scores is not None else ([], [], [])
    positions: dict[str, list[int]] = defaultdict(list)
    for k, inv in enumerate(invoices):
        positions[inv.customer_id].append(k)
    actions = _actions_by_customer(ledger.actions)
    customers = ledger.customers.drop_duplicates("customer_id")
    attributes = dict(
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
    entries: dict[str, CustomerEntry] = {}
    for cid, record in records.items():
        pos = positions.get(cid, [])
        own = tuple(invoices[k] for k in pos)
        acts = actions.get(cid, ())
        name, currency, limit = attributes.get(cid, (None, None, None))
        entries[cid] = CustomerEntry(
            customer_id=cid,
            name=cid if name is None else str(name),
            currency=None if currency is None else str(currency),
            credit_limit=None if limit is None else float(limit),  # type: ignore[arg-type]
            features=record,
            invoices=own,
            invoice_x=X[pos] if pos else np.empty((0, X.shape[1])),
            issue_dates=tuple(issue[k] for k in pos),
            amounts=tuple(amounts[k] for k in pos),
            actions=acts,
            typical=typical[cid],
            limit=_credit_limit(
                record,
                typical[cid],
                None if limit is None else float(limit),
                policy,  # type: ignore[arg-type]
            ),
            item=_worklist_item(
                cid,
                own,
                acts,
                typical[cid].grade,
                as_of=as_of,
                policy=policy,
                bundle=bundle,
            ),
        )
    return entries, fallback_amount


def _failures_of(bad: list[UnreadableRow]) -> dict[str, str]:
    """Customer id -> why it is not served, from the rows `read_ledger` left out."""
    out: dict[str, list[str]] = defaultdict(list)
    for row in bad:
        if row.customer_id is None:
            # No customer to blame (an orphan row): left out, and said so in the log.
            logger.error("Stored row left out of serving: %s", row)
            continue
        out[row.customer_id].append(str(row))
    return {
        cid: "stored row(s) cannot be read: "
        + "; ".join(rows)
        + ". Correct or delete them in the database"
        for cid, rows in out.items()
    }


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
    policy: Policy,
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
        entries, fallback = build_entries(
            ledger, bundle=bundle, policy=policy, as_of=as_of, fallback_amount=fallback_amount
        )
        return entries, fallback, {}
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


def _rank_key(item: WorklistItem) -> tuple[float, int, str]:
    # The ordering of `rank_worklist`: priority, then longest overdue, then id.
    return (-item.priority, -item.max_days_overdue, item.customer_id)


@dataclass
class ServingState:
    """Everything one worker serves from: the bundle, its date and every customer's entry."""

    bundle: Bundle
    policy: Policy
    as_of: dt.date
    entries: dict[str, CustomerEntry]
    seq: int
    fallback_amount: float
    # Customers not served, with the reason (an unreadable stored row, a failed build).
    failed: dict[str, str] = field(default_factory=dict)
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    _ranked: tuple[list[WorklistItem], list[WorklistItem]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(
        cls, engine: sa.Engine, *, bundle: Bundle, policy: Policy, as_of: dt.date
    ) -> ServingState:
        """Load the whole store and build every customer's entry (app start, reload)."""
        start = time.perf_counter()
        policy = policy.with_grade_cutoffs(bundle.thresholds)
        with engine.connect() as conn:
            seq = latest_seq(conn)  # before reading: a concurrent write is applied again
        ledger, bad = read_ledger(engine)
        unreadable = _failures_of(bad)
        entries, fallback, failed = build_entries_isolated(
            ledger, bundle=bundle, policy=policy, as_of=as_of
        )
        failed = {**failed, **unreadable}
        for cid, reason in sorted(failed.items()):
            logger.error("Customer %r is not served: %s", cid, reason)
        logger.info(
            "Serving state as of %s: %d customers (%d not served), %d open invoices, "
            "model %s (%.1f s)",
            as_of,
            len(entries),
            len(failed),
            sum(len(e.invoices) for e in entries.values()),
            bundle.model_version,
            time.perf_counter() - start,
        )
        return cls(
            bundle=bundle,
            policy=policy,
            as_of=as_of,
            entries=entries,
            seq=seq,
            fallback_amount=fallback,
            failed=failed,
        )

    def entry(self, customer_id: str) -> CustomerEntry:
        """The entry of one customer.

        Raises:
            CustomerUnavailableError: the customer's stored rows cannot be served (503).
            UnknownEntityError: the customer is not served (not in the store at start, or
                created after the serving date).
        """
        found = self.entries.get(customer_id)
        if found is None:
            self._raise_if_failed(customer_id)
            raise UnknownEntityError(
                f"unknown customer {customer_id!r}: import the customer first, or check the id"
            )
        return found

    def _raise_if_failed(self, customer_id: str) -> None:
        reason = self.failed.get(customer_id)
        if reason is not None:
            raise CustomerUnavailableError(f"customer {customer_id!r} cannot be served: {reason}")

    def _entries_and_failures(
        self, engine: sa.Engine, customer_ids: Iterable[str], as_of: dt.date
    ) -> tuple[dict[str, CustomerEntry], dict[str, str]]:
        ledger, bad = read_ledger(engine, customer_ids=list(customer_ids))
        entries, _, failed = build_entries_isolated(
            ledger,
            bundle=self.bundle,
            policy=self.policy,
            as_of=as_of,
            fallback_amount=self.fallback_amount,
        )
        return entries, {**failed, **_failures_of(bad)}

    def entries_at(
        self, engine: sa.Engine, customer_ids: Iterable[str], as_of: dt.date
    ) -> dict[str, CustomerEntry]:
        """Entries of some customers at another date, computed from the store (slow path).

        Raises:
            CustomerUnavailableError: a requested customer's stored rows cannot be served.
        """
        entries, failed = self._entries_and_failures(engine, customer_ids, as_of)
        for cid, reason in failed.items():
            raise CustomerUnavailableError(f"customer {cid!r} cannot be served: {reason}")
        return entries

    def refresh(self, engine: sa.Engine, customer_ids: Iterable[str]) -> None:
        """Reload some customers from the store (after events, actions or an import).

        A customer whose rows cannot be served is moved to `failed` (503 with the reason)
        until a later change makes it servable again; the others are refreshed.
        """
        ids = sorted(set(customer_ids))
        if not ids:
            return
        fresh, failed = self._entries_and_failures(engine, ids, self.as_of)
        with self._lock:
            for cid in ids:
                old = self.entries.get(cid)
                new = fresh.get(cid)
                if cid in failed:
                    logger.error("Customer %r is not served: %s", cid, failed[cid])
                    self.failed[cid] = failed[cid]
                else:
                    self.failed.pop(cid, None)
                if new is None:
                    self.entries.pop(cid, None)
                else:
                    self.entries[cid] = new
                self._rerank(old.item if old else None, new.item if new else None)
        logger.debug("Refreshed %d customer(s)", len(ids))

    def pending(self, latest: int) -> bool:
        """Whether the change log (at position `latest`) is ahead of this state."""
        return latest > self.seq

    def sync(self, engine: sa.Engine) -> bool:
        """Apply change-log rows newer than this state: refresh the customers they name.

        Returns:
            True when a row concerns every customer (kind "model": a new model; kind
            "import": an import too large to name its customers): the caller rebuilds
            the whole state in the background, this one keeps serving meanwhile.
        """
        with engine.connect() as conn:
            changes = changes_since(conn, self.seq)
        if not changes:
            return False
        self.refresh(engine, {c.customer_id for c in changes if c.customer_id})
        self.seq = max(self.seq, changes[-1].seq)
        return any(c.customer_id is None for c in changes)

    def _rerank(self, old: WorklistItem | None, new: WorklistItem | None) -> None:
        """Move one customer's item in the cached ranking (no full sort per event)."""
        if self._ranked is None:
            return
        work, waiting = (list(part) for part in self._ranked)
        if old is not None:
            part = work if old.next_action in WORK_ACTIONS else waiting
            at = bisect.bisect_left(part, _rank_key(old), key=_rank_key)
            if at >= len(part) or part[at].customer_id != old.customer_id:
                self._ranked = None  # not where expected: rank from scratch next read
                return
            part.pop(at)
        if new is not None:
            part = work if new.next_action in WORK_ACTIONS else waiting
            bisect.insort(part, new, key=_rank_key)
        # A new pair of lists: a reader holding the old pair keeps a consistent page.
        self._ranked = (work, waiting)

    def ranked(self) -> tuple[list[WorklistItem], list[WorklistItem]]:
        """(customers needing work today, customers waiting), each by priority."""
        cached = self._ranked
        if cached is not None:
            return cached
        with self._lock:
            items = [e.item for e in self.entries.values() if e.item is not None]
            items.sort(key=_rank_key)
            work = [it for it in items if it.next_action in WORK_ACTIONS]
            waiting = [it for it in items if it.next_action not in WORK_ACTIONS]
            self._ranked = (work, waiting)
            return self._ranked
