"""Serving entries where a customer whose rows cannot be built fails alone.

`build_entries_isolated` builds every customer at once (`serving.entries.build_entries`)
and, when that raises, bisects the customers until the ones at fault are found; every
other customer is served and the failed ones answer 503 with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging

from features.ledger import Ledger, day_timestamp
from kernel.errors import StoreError
from kernel.policy import PolicySettings
from serving.entries import FALLBACK_TYPICAL_AMOUNT, CustomerEntry, build_entries
from training.bundle import Bundle

__all__ = ["build_entries_isolated"]

logger = logging.getLogger(__name__)

# Customers `build_entries_isolated` sets aside before it gives up: beyond this many, the
# fault is not in a few customers' rows (a model that fails on every row, say), and
# isolating each would cost one build per customer.
_MAX_FAILED_CUSTOMERS = 20


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
        attributes=ledger.attributes[ledger.attributes["invoice_id"].astype("str").isin(known)],
    )


def _usual_amount(ledger: Ledger, as_of: dt.date) -> float:
    """The median over customers of their median invoice amount issued before `as_of`.

    What `build_entries` derives from the customer features, computed from the ledger
    directly for when those features cannot be built for every customer at once.
    """
    issued = ledger.invoices[ledger.invoices["issue_date"] < day_timestamp(as_of)]
    usual = issued.groupby(issued["customer_id"].astype("str"))["amount"].median().dropna()
    return float(usual.median()) if len(usual) else FALLBACK_TYPICAL_AMOUNT


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
