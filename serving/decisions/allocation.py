"""The day's list: which customers needing work each collector takes today, and why.

Queues: a customer assigned to a collector (the import's `customers.collector`) is in
that collector's queue; the others form the team's queue. A queue's day holds its
capacity: the collector's (`collector_capacities`, else `collector_capacity`), or for
the team queue `collectors` × `collector_capacity`. That day is split among the steps
collectors work by `step_capacity` (`step_quotas`), so calls and escalations both happen
instead of whichever ranks first filling the day.

Within a step, customers rank by expected recovery (`expected_recovery`):

    collectible       = Σ open amount × (1 − P(default)) over the invoices with work today
    expected recovery = collectible × step_collect_rate[step] − step_cost[step]

1 − P(default) is the chance the money comes in at all (P(default) unknown: 1); the
step's collect rate and cost are the same for every customer of a step, so within a step
this ranks by collectible money: a large balance likely to be paid beats a lost cause of
the same size. A step with fewer customers than its quota leaves the rest of it to the
best remaining customers of any step, by expected recovery. Reminders the system sends
(`reminders_automated`) join the day's list without taking capacity. What does not fit
is the overflow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel.policy import WORK_STEPS, PolicySettings
from serving.decisions.records import is_present

if TYPE_CHECKING:
    from serving.decisions.worklist import InvoiceStep, WorklistItem

__all__ = [
    "DayPlan",
    "expected_recovery",
    "is_automated",
    "manual_steps",
    "plan_day",
    "step_quotas",
]


def manual_steps(policy: PolicySettings) -> tuple[str, ...]:
    """The steps that take collector time (reminders only when collectors send them)."""
    return tuple(s for s in WORK_STEPS if s != "reminder" or not policy.reminders_automated)


def step_quotas(capacity: int, *, policy: PolicySettings) -> dict[str, int]:
    """A day of `capacity` items split among the manual steps in proportion to `step_capacity`.

    Largest remainders: the quotas add up to `capacity`; with the default step capacities
    (calls 20, escalations 12, disputes 8: 40, the default capacity) they are those numbers.
    """
    steps = manual_steps(policy)
    weights = dict(zip(WORK_STEPS, policy.step_capacity, strict=True))
    total = sum(weights[s] for s in steps)
    exact = {s: capacity * weights[s] / total for s in steps}
    quotas = {s: int(v) for s, v in exact.items()}
    by_remainder = sorted(steps, key=lambda s: (quotas[s] - exact[s], steps.index(s)))
    for s in by_remainder[: capacity - sum(quotas.values())]:
        quotas[s] += 1
    return quotas


def expected_recovery(
    steps: Iterable[InvoiceStep], action: str, *, policy: PolicySettings
) -> float:
    """Collectible money of the invoices with work today × the step's collect rate − its cost.

    0 for a customer with no work today (`action` not a work step).
    """
    if action not in WORK_STEPS:
        return 0.0
    k = WORK_STEPS.index(action)
    collectible = sum(
        s.open_amount * (1.0 - s.p_default if is_present(s.p_default) else 1.0)
        for s in steps
        if s.action in WORK_STEPS
    )
    return collectible * policy.step_collect_rate[k] - policy.step_cost[k]


@dataclass(frozen=True)
class DayPlan:
    """The day's list and what did not fit.

    Attributes:
        today: customers worked today: the collectors' items by expected recovery, then
            the automated reminders.
        overflow: customers needing work beyond capacity, by expected recovery.
        capacity: items the collectors of the queues with work can do today.
        quotas: items per step over those queues (automated reminders not counted).
    """

    today: tuple[WorklistItem, ...]
    overflow: tuple[WorklistItem, ...]
    capacity: int
    quotas: dict[str, int]


def _order(item: WorklistItem) -> tuple[float, float, str]:
    return (-item.expected_recovery, -item.priority, item.customer_id)


def is_automated(item: WorklistItem, policy: PolicySettings) -> bool:
    """Whether the system does this item's step itself (an automated reminder)."""
    return item.next_action == "reminder" and policy.reminders_automated


def _fill(
    items: Sequence[WorklistItem], quotas: dict[str, int]
) -> tuple[list[WorklistItem], list[WorklistItem]]:
    """(chosen, left over): each step's best up to its quota, spare quota to the best rest."""
    by_step: dict[str, list[WorklistItem]] = defaultdict(list)
    for item in items:
        by_step[item.next_action].append(item)
    chosen: list[WorklistItem] = []
    rest: list[WorklistItem] = []
    for step, group in by_step.items():
        group.sort(key=_order)
        quota = quotas.get(step, 0)
        chosen += group[:quota]
        rest += group[quota:]
    spare = sum(quotas.values()) - len(chosen)
    rest.sort(key=_order)
    return chosen + rest[:spare], rest[spare:]


def plan_day(
    work: Iterable[WorklistItem], *, policy: PolicySettings, collectors: int = 1
) -> DayPlan:
    """Fill each queue's day from the customers needing work (see the module docstring).

    Args:
        work: customers needing work today (next action a work step), any order.
        policy: capacities, step shares, collect rates and costs.
        collectors: collectors working the team queue (customers assigned to nobody).
    """
    if collectors < 1:
        raise ValueError("collectors must be at least 1")
    queues: dict[str | None, list[WorklistItem]] = defaultdict(list)
    automated: list[WorklistItem] = []
    for item in work:
        (automated if is_automated(item, policy) else queues[item.collector]).append(item)
    if not queues:
        queues[None] = []  # the team's capacity is there even on a quiet day
    chosen: list[WorklistItem] = []
    overflow: list[WorklistItem] = []
    capacity = 0
    totals = dict.fromkeys(manual_steps(policy), 0)
    for collector, items in queues.items():
        own = policy.collector_capacity * collectors
        if collector is not None:
            own = dict(policy.collector_capacities).get(collector, policy.collector_capacity)
        quotas = step_quotas(own, policy=policy)
        picked, left = _fill(items, quotas)
        chosen += picked
        overflow += left
        capacity += own
        for step, n in quotas.items():
            totals[step] += n
    chosen.sort(key=_order)
    automated.sort(key=_order)
    overflow.sort(key=_order)
    return DayPlan(tuple(chosen + automated), tuple(overflow), capacity, totals)
