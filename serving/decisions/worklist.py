"""The collections worklist: priority of each customer, its next action, ranking.

    expected loss    = open amount × P(default)      (`serving.decisions.scores`; P(risk target))
    cost of waiting  = open amount × cost of capital × expected days late / 365
    priority         = expected loss + cost of waiting

Each open invoice's next action comes from the dunning ladder (`serving.decisions.dunning`,
whose names are re-exported here); a customer's next action is the most urgent of its
invoices'. Customers are ranked by `rank_key`, the one ranking order (the serving state
keeps its cached ranking with it too).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from kernel.policy import GRADES, PolicySettings
from serving.decisions.allocation import expected_recovery, plan_day
from serving.decisions.dunning import (
    ACTIONS,
    WORK_ACTIONS,
    ActionKind,
    NextAction,
    actions_until,
    dunning_days,
    dunning_steps,
    follow_up_days,
    hold_for_follow_up,
    last_steps,
    next_action,
    urgency,
)
from serving.decisions.grades import RiskGrade, assess_grade
from serving.decisions.item_reasons import item_reasons
from serving.decisions.records import ActionRecord, OpenInvoice, is_missing, is_present
from serving.decisions.scores import expected_loss
from serving.decisions.target import DEFAULT_TARGET, RiskTarget, chance_words

__all__ = [
    "ACTIONS",
    "WORK_ACTIONS",
    "ActionKind",
    "InvoiceStep",
    "NextAction",
    "Worklist",
    "WorklistItem",
    "cost_of_waiting",
    "dunning_days",
    "expected_loss",
    "follow_up_days",
    "hold_for_follow_up",
    "last_steps",
    "next_action",
    "priority",
    "rank_key",
    "rank_worklist",
    "worklist_item",
]


@dataclass(frozen=True)
class InvoiceStep:
    """One open invoice on the worklist: its numbers and next step."""

    invoice_id: str
    due_date: dt.date
    days_overdue: int
    open_amount: float
    p_default: float
    expected_days_late: float
    expected_loss: float
    cost_of_waiting: float
    priority: float
    action: ActionKind
    reason: str


@dataclass(frozen=True)
class WorklistItem:
    """One customer on the worklist.

    Attributes:
        customer_id: the customer.
        rank: 1-based position among customers needing work today (0 for `waiting`).
        priority: sum of its open invoices' priorities (expected loss + cost of waiting).
        expected_loss: sum of open amount × P(default).
        cost_of_waiting: sum of open amount × cost of capital × expected days late / 365.
        open_amount / overdue_amount: amounts owed in total / past due.
        max_days_overdue: days past due of the oldest overdue invoice (≤ 0: none overdue).
        grade: risk grade used to adjust the dunning ladder.
        next_action: the most urgent action of its invoices (after follow-up intervals).
        reasons: sentences for the collector, most important first.
        invoices: every open invoice, most urgent action first, then by priority.
        last_action: the most recently logged action of the customer, if any.
        promise: the promise to pay that pauses dunning now, if any.
        collector: the collector the account is assigned to (None: the team's queue).
        expected_recovery: what working it today should bring in (`allocation`).
    """

    customer_id: str
    rank: int
    priority: float
    expected_loss: float
    cost_of_waiting: float
    open_amount: float
    overdue_amount: float
    max_days_overdue: int
    grade: str
    next_action: ActionKind
    reasons: tuple[str, ...]
    invoices: tuple[InvoiceStep, ...]
    last_action: ActionRecord | None
    promise: ActionRecord | None
    collector: str | None = None
    expected_recovery: float = 0.0


@dataclass(frozen=True)
class Worklist:
    """The day's worklist.

    Attributes:
        as_of: the day it is for.
        capacity: items the collectors can work that day; `quotas` per step.
        items: the day's list (`serving.decisions.allocation.plan_day`): each step's
            best customers by expected recovery within its capacity, then the
            automated reminders (no capacity).
        overflow: further customers needing work, beyond capacity.
        waiting: customers with nothing to do today (promise pending, next follow-up
            date not reached, or nothing due yet), priority descending.
    """

    as_of: dt.date
    capacity: int
    items: tuple[WorklistItem, ...]
    overflow: tuple[WorklistItem, ...]
    waiting: tuple[WorklistItem, ...]
    quotas: Mapping[str, int]


def cost_of_waiting(
    open_amount: float, expected_days_late: float | None, *, policy: PolicySettings
) -> float:
    """Open amount × annual cost of capital × expected days late / 365 (early or unknown: 0)."""
    if not is_present(expected_days_late) or expected_days_late <= 0:
        return 0.0
    return float(open_amount) * policy.cost_of_capital * float(expected_days_late) / 365.0


def priority(
    *,
    open_amount: float,
    p_default: float | None,
    expected_days_late: float | None,
    policy: PolicySettings,
) -> float:
    """Worklist priority of one open invoice: expected loss + cost of waiting."""
    return expected_loss(open_amount, p_default) + cost_of_waiting(
        open_amount, expected_days_late, policy=policy
    )


def _weighted(invoices: list[OpenInvoice], attr: str) -> float | None:
    """Open-amount-weighted mean of a score over the invoices that have it."""
    known = [inv for inv in invoices if not is_missing(getattr(inv, attr))]
    weight = sum(inv.open_amount for inv in known)
    if not known or weight <= 0:
        return None
    return sum(inv.open_amount * getattr(inv, attr) for inv in known) / weight


def _customer_grade(
    invoices: list[OpenInvoice], policy: PolicySettings, target: RiskTarget
) -> RiskGrade:
    # Weighted by open amount: the grade should reflect where the money is. Without a
    # default model only invoices past due + H have a P(default) (1, by the ledger's
    # rule): a mean over them alone would grade the whole customer on them.
    known = all(is_present(inv.p_default) for inv in invoices)
    return assess_grade(
        _weighted(invoices, "p_default") if known else None,
        _weighted(invoices, "days_late_p50"),
        policy=policy,
        target=target,
    )


def _invoice_step(
    inv: OpenInvoice, step: NextAction, *, as_of: dt.date, policy: PolicySettings
) -> InvoiceStep:
    dpd = (as_of - inv.due_date).days
    predicted = inv.days_late if not is_missing(inv.days_late) else inv.days_late_p50
    # An invoice already n days overdue will be at least n days late.
    days_late = max(dpd, predicted) if not is_missing(predicted) else max(dpd, 0)
    loss = expected_loss(inv.open_amount, inv.p_default)
    waiting = cost_of_waiting(inv.open_amount, days_late, policy=policy)
    return InvoiceStep(
        invoice_id=inv.invoice_id,
        due_date=inv.due_date,
        days_overdue=dpd,
        open_amount=inv.open_amount,
        p_default=inv.p_default,
        expected_days_late=float(days_late),
        expected_loss=loss,
        cost_of_waiting=waiting,
        priority=loss + waiting,
        action=step.action,
        reason=step.reason,
    )


def _customer_item(
    customer_id: str,
    invoices: list[OpenInvoice],
    actions: list[ActionRecord],
    grade_given: str | None,
    *,
    as_of: dt.date,
    policy: PolicySettings,
    target: RiskTarget,
    collector: str | None = None,
) -> WorklistItem:
    if grade_given is not None:
        if grade_given not in GRADES:
            raise ValueError(f"unknown grade {grade_given!r} for customer {customer_id}")
        grade, grade_reason, basis = grade_given, f"grade {grade_given}", "given"
    else:
        assessed = _customer_grade(invoices, policy, target)
        grade, grade_reason, basis = assessed.grade, assessed.reason, assessed.basis
    dunning = dunning_steps(invoices, actions, grade=grade, as_of=as_of, policy=policy)
    steps = [
        _invoice_step(inv, step, as_of=as_of, policy=policy)
        for inv, step in zip(invoices, dunning.steps, strict=True)
    ]
    steps.sort(key=lambda s: (urgency(s.action), -s.priority, s.invoice_id))
    reasons = item_reasons(steps, policy, chance_words(target))
    if basis != "given":
        reasons.append(grade_reason)
    loss = sum(s.expected_loss for s in steps)
    waiting_cost = sum(s.cost_of_waiting for s in steps)
    return WorklistItem(
        customer_id=customer_id,
        rank=0,
        priority=loss + waiting_cost,
        expected_loss=loss,
        cost_of_waiting=waiting_cost,
        open_amount=sum(s.open_amount for s in steps),
        overdue_amount=sum(s.open_amount for s in steps if s.days_overdue > 0),
        max_days_overdue=max(s.days_overdue for s in steps),
        grade=grade,
        next_action=steps[0].action,
        reasons=tuple(reasons),
        invoices=tuple(steps),
        last_action=dunning.last_action,
        promise=dunning.promise,
        collector=collector,
        expected_recovery=expected_recovery(steps, steps[0].action, policy=policy),
    )


def rank_worklist(
    invoices: Iterable[OpenInvoice],
    *,
    as_of: dt.date,
    policy: PolicySettings,
    actions: Iterable[ActionRecord] = (),
    grades: Mapping[str, str] | None = None,
    collectors: int = 1,
    target: RiskTarget = DEFAULT_TARGET,
    assigned: Mapping[str, str] | None = None,
) -> Worklist:
    """The day's worklist: open invoices grouped by customer, the day's list by step.

    Args:
        invoices: every open invoice (open amount > 0) with its scores; invoices with no
            open amount are ignored.
        as_of: today.
        policy: the decision policy (cost of capital, dunning ladder, capacities).
        actions: logged actions of these customers (promises and disputes pause dunning;
            reminders, calls and escalations hold back their step until its follow-up
            interval has passed; the latest action is shown); those after `as_of` ignored.
        grades: customer_id -> risk grade, e.g. from scoring a typical new invoice;
            customers missing here are graded from their open invoices' open-amount-
            weighted P(default) (or predicted days late without a default model).
        collectors: collectors working the team queue (customers not `assigned`).
        target: what the invoices' `p_default` is the probability of (reasons name it).
        assigned: customer_id -> the collector the account is assigned to.

    Returns:
        `Worklist` with the day's list `items` (`allocation.plan_day`), the `overflow`
        beyond capacity, and the customers `waiting` (nothing to do today).
    """
    by_customer: dict[str, list[OpenInvoice]] = defaultdict(list)
    for inv in invoices:
        if inv.open_amount > 0:
            by_customer[inv.customer_id].append(inv)
    acts: dict[str, list[ActionRecord]] = defaultdict(list)
    for action in actions_until(actions, as_of):
        if action.customer_id in by_customer:
            acts[action.customer_id].append(action)
    grades, assigned = grades or {}, assigned or {}
    built = [
        _customer_item(
            cid,
            invs,
            acts.get(cid, []),
            grades.get(cid),
            as_of=as_of,
            policy=policy,
            target=target,
            collector=assigned.get(cid),
        )
        for cid, invs in by_customer.items()
    ]
    built.sort(key=rank_key)
    plan = plan_day(
        (it for it in built if it.next_action in WORK_ACTIONS), policy=policy, collectors=collectors
    )
    ranked = [_with_rank(it, k) for k, it in enumerate((*plan.today, *plan.overflow), start=1)]
    return Worklist(
        as_of=as_of,
        capacity=plan.capacity,
        items=tuple(ranked[: len(plan.today)]),
        overflow=tuple(ranked[len(plan.today) :]),
        waiting=tuple(it for it in built if it.next_action not in WORK_ACTIONS),
        quotas=plan.quotas,
    )


def _with_rank(item: WorklistItem, rank: int) -> WorklistItem:
    return replace(item, rank=rank)


def rank_key(item: WorklistItem) -> tuple[float, int, str]:
    """The worklist order: priority descending; ties (e.g. no scores) go to the longest
    overdue, then a stable id order."""
    return (-item.priority, -item.max_days_overdue, item.customer_id)


def worklist_item(
    customer_id: str,
    invoices: Iterable[OpenInvoice],
    *,
    grade: str,
    as_of: dt.date,
    policy: PolicySettings,
    actions: Iterable[ActionRecord] = (),
    target: RiskTarget = DEFAULT_TARGET,
    collector: str | None = None,
) -> WorklistItem | None:
    """One customer's item, as `rank_worklist` would list it alone; None when nothing is owed.

    Its rank is 1 when it needs work today, 0 when it waits (as in a one-customer list).

    Args:
        customer_id: the customer.
        invoices: its open invoices with their scores.
        grade: its risk grade.
        as_of: today.
        policy: the decision policy.
        actions: its logged actions; those dated after `as_of` are ignored.
        target: what the invoices' `p_default` is the probability of (reasons name it).
        collector: the collector the account is assigned to (None: the team).
    """
    owed = [inv for inv in invoices if inv.open_amount > 0]
    if not owed:
        return None
    done = actions_until(actions, as_of)
    item = _customer_item(
        customer_id,
        owed,
        done,
        grade,
        as_of=as_of,
        policy=policy,
        target=target,
        collector=collector,
    )
    return _with_rank(item, 1) if item.next_action in WORK_ACTIONS else item
