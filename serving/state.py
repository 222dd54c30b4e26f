"""What a serving worker keeps in memory: every customer's entry, kept current.

Built once from the store when the app starts (`ServingState.build`; the entries come
from `serving.entries`), then kept current customer by customer: a write through the API
or `duecast import` appends to the change log (`features.changes`), and every worker, on
its next request, reloads only the customers named there (`ServingState.sync`). The
day's worklist is ranked once and then kept in order item by item.

Approved orders' reservations (`serving.approvals`) are held beside the entries: read at
build and with every refreshed customer, and replaced by what the store held when this
worker last approved an order for the customer. `exposure` adds them to the ledger.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from features.changes import changes_since, latest_seq
from features.currency_rates import latest_rates
from features.ledger import UnreadableRow, read_ledger
from kernel.config import get_settings
from kernel.errors import CustomerUnavailableError, UnknownEntityError
from kernel.policy import PolicySettings
from serving.approvals import active_reservations
from serving.auth import APIKEY_CHANGE
from serving.decisions.exposure import Exposure, Reservation, outstanding_reservations
from serving.decisions.worklist import WORK_ACTIONS, WorklistItem, rank_key
from serving.entries import CustomerEntry
from serving.entries_isolated import build_entries_isolated
from training.bundle import Bundle

__all__ = ["ServingState"]

logger = logging.getLogger(__name__)


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


@dataclass
class ServingState:
    """Everything one worker serves from: the bundle, its date and every customer's entry."""

    bundle: Bundle
    policy: PolicySettings
    as_of: dt.date
    entries: dict[str, CustomerEntry]
    seq: int
    fallback_amount: float
    # Customers not served, with the reason (an unreadable stored row, a failed build).
    failed: dict[str, str] = field(default_factory=dict)
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # Approved orders active on `as_of`, by customer (see the module docstring).
    reservations: dict[str, tuple[Reservation, ...]] = field(default_factory=dict)
    # Every amount is in `base_currency`; an order in another currency is converted at
    # its latest rate on or before `as_of` (`features.currency`), held here so an
    # order never reads the store for it. Read at build and with every refresh.
    base_currency: str = "EUR"
    rates: dict[str, float] = field(default_factory=dict)
    _ranked: tuple[list[WorklistItem], list[WorklistItem]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(
        cls,
        engine: sa.Engine,
        *,
        bundle: Bundle,
        policy: PolicySettings,
        as_of: dt.date,
        base_currency: str | None = None,
    ) -> ServingState:
        """Load the whole store and build every customer's entry (app start, reload).

        `base_currency` defaults to the settings' (`DUECAST_BASE_CURRENCY`).
        """
        start = time.perf_counter()
        policy = policy.with_grade_cutoffs(bundle.thresholds)
        with engine.connect() as conn:
            seq = latest_seq(conn)  # before reading: a concurrent write is applied again
        ledger, bad = read_ledger(engine)
        with engine.connect() as conn:
            reservations = active_reservations(conn, as_of=as_of)
            rates = latest_rates(conn, as_of)
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
            reservations=reservations,
            base_currency=base_currency or get_settings().base_currency,
            rates=rates,
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
        with engine.connect() as conn:
            reserved = active_reservations(conn, as_of=self.as_of, customer_ids=ids)
            self.rates = latest_rates(conn, self.as_of)  # an import may have brought rates
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
                self.reservations[cid] = reserved.get(cid, ())
                self._rerank(old.item if old else None, new.item if new else None)
        logger.debug("Refreshed %d customer(s)", len(ids))

    def remember_reservations(self, customer_id: str, active: tuple[Reservation, ...]) -> None:
        """The customer's active reservations as the store held them at an approval."""
        self.reservations[customer_id] = active

    def exposure(
        self,
        entry: CustomerEntry,
        *,
        reservations: tuple[Reservation, ...] | None = None,
        as_of: dt.date | None = None,
    ) -> Exposure:
        """The customer's exposure now: its ledger including today, plus its reservations.

        Args:
            entry: the customer's entry (of `as_of`).
            reservations: the reservations to count (default: those held in memory).
            as_of: the day (default: the serving date).
        """
        day = as_of or self.as_of
        held = (
            self.reservations.get(entry.customer_id, ()) if reservations is None else reservations
        )
        pending = outstanding_reservations(held, entry.today.invoices, as_of=day)
        return Exposure(
            open_amount=entry.open_amount,
            today_change=entry.today.change,
            reserved=round(sum(r.amount for r in pending), 2),
            reservations=len(pending),
        )

    def pending(self, latest: int) -> bool:
        """Whether the change log (at position `latest`) is ahead of this state."""
        return latest > self.seq

    def sync(self, engine: sa.Engine) -> bool:
        """Apply change-log rows newer than this state: refresh the customers they name.

        Returns:
            True when a row concerns every customer (kind "model": a new model; kind
            "import": an import too large to name its customers; not kind "apikey"): the
            caller rebuilds the whole state in the background, this one keeps serving.
        """
        with engine.connect() as conn:
            changes = changes_since(conn, self.seq)
        if not changes:
            return False
        self.refresh(engine, {c.customer_id for c in changes if c.customer_id})
        self.seq = max(self.seq, changes[-1].seq)
        # A revoked key ("apikey") names no customer but concerns none: the key cache
        # drops it (`Runtime.keys_revoked`), the state stays.
        return any(c.customer_id is None and c.kind != APIKEY_CHANGE for c in changes)

    def _rerank(self, old: WorklistItem | None, new: WorklistItem | None) -> None:
        """Move one customer's item in the cached ranking (no full sort per event)."""
        if self._ranked is None:
            return
        work, waiting = (list(part) for part in self._ranked)
        if old is not None:
            part = work if old.next_action in WORK_ACTIONS else waiting
            at = bisect.bisect_left(part, rank_key(old), key=rank_key)
            if at >= len(part) or part[at].customer_id != old.customer_id:
                self._ranked = None  # not where expected: rank from scratch next read
                return
            part.pop(at)
        if new is not None:
            part = work if new.next_action in WORK_ACTIONS else waiting
            bisect.insort(part, new, key=rank_key)
        # A new pair of lists: a reader holding the old pair keeps a consistent page.
        self._ranked = (work, waiting)

    def ranked(self) -> tuple[list[WorklistItem], list[WorklistItem]]:
        """(customers needing work today, customers waiting), each by priority."""
        cached = self._ranked
        if cached is not None:
            return cached
        with self._lock:
            items = [e.item for e in self.entries.values() if e.item is not None]
            items.sort(key=rank_key)
            work = [it for it in items if it.next_action in WORK_ACTIONS]
            waiting = [it for it in items if it.next_action not in WORK_ACTIONS]
            self._ranked = (work, waiting)
            return self._ranked
