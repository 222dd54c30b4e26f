"""Benchmark of the pure decisions: one order decision, and the worklist / cash forecast
over the open invoices of a 10,000-customer store (synthetic scores, no model).

    /work/venv/bin/python bench/decisions.py [--customers 10000] [--open-per-customer 4]

Targets: the order path (grade + limit + decision) well inside the API's 10 ms p99
budget (<= 50 µs); ranking the whole worklist <= 1 s (the API can cache it between
events); cash forecast of every open invoice <= 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time

from _measure import report

from serving.decisions import (
    ActionRecord,
    OpenInvoice,
    PolicySettings,
    assess_grade,
    cash_forecast,
    order_decision,
    rank_worklist,
    suggest_credit_limit,
)


def _order_path(policy: PolicySettings, rng: random.Random) -> None:
    p = rng.random() * 0.3
    grade = assess_grade(p, 10.0, policy=policy).grade
    limit = suggest_credit_limit(
        monthly_sales=rng.uniform(1_000, 100_000),
        terms_days=30,
        p_default=p,
        policy=policy,
        current_limit=20_000,
        history_invoices=12,
    )
    order_decision(
        amount=rng.uniform(100, 20_000),
        open_amount=rng.uniform(0, 30_000),
        credit_limit=limit.amount,
        grade=grade,
        policy=policy,
        overdue_amount=1_000,
    )


def _open_invoices(customers: int, per_customer: int, today: dt.date, rng: random.Random):
    invoices = []
    for c in range(customers):
        for k in range(rng.randint(1, 2 * per_customer - 1)):
            late = rng.gauss(10, 15)
            invoices.append(
                OpenInvoice(
                    invoice_id=f"{c}-{k}",
                    customer_id=str(c),
                    due_date=today + dt.timedelta(days=rng.randint(-90, 30)),
                    open_amount=rng.uniform(100, 20_000),
                    p_default=rng.random() * 0.2,
                    days_late=late,
                    days_late_p10=late - 10,
                    days_late_p50=late,
                    days_late_p90=late + 25,
                    disputed=rng.random() < 0.03,
                )
            )
    return invoices


def main() -> None:
    """Run and print the figures next to their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--open-per-customer", type=int, default=4)
    args = parser.parse_args()
    rng = random.Random(0)
    policy = PolicySettings.defaults()
    today = dt.date(2026, 11, 25)

    n = 20_000
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        _order_path(policy, rng)
        samples.append(time.perf_counter() - start)
    samples.sort()
    report("order path p50 (grade+limit+decision)", samples[n // 2] * 1e6, 50, "µs")
    report("order path p99", samples[int(n * 0.99)] * 1e6, 50, "µs")

    invoices = _open_invoices(args.customers, args.open_per_customer, today, rng)
    actions = [
        ActionRecord(
            customer_id=str(c),
            kind="promise",
            at=today - dt.timedelta(days=2),
            promised_date=today + dt.timedelta(days=3),
        )
        for c in range(0, args.customers, 20)
    ]
    print(f"{len(invoices):,} open invoices of {args.customers:,} customers")
    start = time.perf_counter()
    worklist = rank_worklist(invoices, as_of=today, policy=policy, actions=actions)
    report("rank whole worklist", time.perf_counter() - start, 1.0, "s")
    print(
        f"  {len(worklist.items)} today, {len(worklist.overflow)} overflow, "
        f"{len(worklist.waiting)} waiting"
    )
    start = time.perf_counter()
    cash_forecast(invoices, as_of=today, policy=policy)
    report("cash forecast, every open invoice", time.perf_counter() - start, 1.0, "s")


if __name__ == "__main__":
    main()
