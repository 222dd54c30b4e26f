"""Small hand-made or random ledgers for label and feature tests (no generator needed).

Dates are given as day offsets from `BASE`; `LedgerSpec` holds plain lists so a test
(or hypothesis) can copy it, change a few events and build both ledgers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import pandas as pd
from hypothesis import strategies as st

from features.ledger import Ledger, ledger_from_frames

BASE = dt.date(2024, 1, 1)


def day(offset: int) -> dt.date:
    return BASE + dt.timedelta(days=offset)


@dataclass(frozen=True)
class LedgerSpec:
    """customers: (id, created, credit_limit|None, terms|None, industry|None, country|None);
    invoices: (id, customer, issue, terms, amount, dispute day|None);
    payments: (invoice, day, amount); adjustments: (invoice, day, amount, kind)."""

    customers: list[tuple] = field(default_factory=list)
    invoices: list[tuple] = field(default_factory=list)
    payments: list[tuple] = field(default_factory=list)
    adjustments: list[tuple] = field(default_factory=list)

    def with_(self, **changes: list[tuple]) -> LedgerSpec:
        return replace(self, **changes)

    def ledger(self) -> Ledger:
        c, i, p, a = self.customers, self.invoices, self.payments, self.adjustments
        return ledger_from_frames(
            {
                "customers": pd.DataFrame(
                    {
                        "customer_id": [x[0] for x in c],
                        "name": [f"Customer {x[0]}" for x in c],
                        "created_at": [day(x[1]) for x in c],
                        "credit_limit": [x[2] for x in c],
                        "payment_terms_days": [x[3] for x in c],
                        "industry": [x[4] for x in c],
                        "country": [x[5] for x in c],
                    }
                ),
                "invoices": pd.DataFrame(
                    {
                        "invoice_id": [x[0] for x in i],
                        "customer_id": [x[1] for x in i],
                        "issue_date": [day(x[2]) for x in i],
                        "due_date": [day(x[2] + x[3]) for x in i],
                        "amount": [x[4] for x in i],
                        "disputed": [x[5] is not None for x in i],
                        "dispute_date": [None if x[5] is None else day(x[5]) for x in i],
                    }
                ),
                "payments": pd.DataFrame(
                    {
                        "payment_id": [f"p{k}" for k in range(len(p))],
                        "invoice_id": [x[0] for x in p],
                        "customer_id": [None] * len(p),
                        "payment_date": [day(x[1]) for x in p],
                        "amount": [x[2] for x in p],
                    }
                ),
                "adjustments": pd.DataFrame(
                    {
                        "adjustment_id": [f"a{k}" for k in range(len(a))],
                        "invoice_id": [x[0] for x in a],
                        "date": [day(x[1]) for x in a],
                        "amount": [x[2] for x in a],
                        "kind": [x[3] for x in a],
                    }
                ),
            }
        )


AMOUNTS = (10.0, 55.5, 100.0, 250.0, 1234.56)
FRACTIONS = (0.25, 0.5, 1.0, 1.3)


@st.composite
def ledger_specs(
    draw: st.DrawFn, *, max_customers: int = 3, max_invoices: int = 8, consistent: bool = True
) -> LedgerSpec:
    """Random small ledgers: partial payments, overpayments, credit notes, write-offs,
    prepayments, disputes, customers with and without history, limits and terms.

    With `consistent=False` a customer may be created after its first invoice (as in
    some real exports)."""
    n_customers = draw(st.integers(1, max_customers))
    customers = [
        (
            f"c{k}",
            draw(st.integers(-60, 60)),
            draw(st.sampled_from([None, 500.0, 5000.0])),
            draw(st.sampled_from([None, 14, 30])),
            draw(st.sampled_from([None, "retail", "construction"])),
            draw(st.sampled_from([None, "DE", "FR"])),
        )
        for k in range(n_customers)
    ]
    invoices = []
    for k in range(draw(st.integers(1, max_invoices))):
        cust = draw(st.integers(0, n_customers - 1))
        issue = draw(st.integers(0, 120))
        dispute = draw(st.one_of(st.none(), st.integers(issue, issue + 60)))
        invoices.append(
            (
                f"i{k}",
                f"c{cust}",
                issue,
                draw(st.sampled_from([0, 14, 30, 45])),
                draw(st.sampled_from(AMOUNTS)),
                dispute,
            )
        )
    payments, adjustments = [], []
    for inv in invoices:
        for _ in range(draw(st.integers(0, 3))):
            payments.append(
                (
                    inv[0],
                    draw(st.integers(inv[2] - 5, inv[2] + 150)),
                    round(inv[4] * draw(st.sampled_from(FRACTIONS)), 2),
                )
            )
        if draw(st.integers(0, 3)) == 0:
            kind = draw(st.sampled_from(["credit_note", "write_off"]))
            adjustments.append(
                (
                    inv[0],
                    draw(st.integers(inv[2], inv[2] + 150)),
                    round(inv[4] * draw(st.sampled_from(FRACTIONS)), 2),
                    kind,
                )
            )
    if consistent:
        first = {}
        for inv in invoices:
            first[inv[1]] = min(first.get(inv[1], inv[2]), inv[2])
        customers = [(c[0], min(c[1], first.get(c[0], c[1])), *c[2:]) for c in customers]
    return LedgerSpec(customers, invoices, payments, adjustments)
