"""The collections worklist: priority, next action on the dunning ladder, ranking.

    expected loss    = open amount × P(default)
    cost of waiting  = open amount × cost of capital × expected days late / 365
    priority         = expected loss + cost of waiting

Dunning ladder (DESIGN.md, Domain rules): reminder from `reminder_at_days` overdue, call
from `call_from_days`, escalate when more than `escalate_after_days` overdue. Call and
escalation days are multiplied by the grade's `dunning_risk_factors` (< 1 for risky
grades), so high-risk customers move up the ladder sooner. A disputed invoice goes to
dispute resolution, never to dunning; an unbroken promise to pay (its date plus
`promise_grace_days` not passed) pauses dunning of the invoices it covers.

Follow-up intervals: a logged reminder, call or escalation (action kind "legal") of the
customer, customer-wide or on any of its invoices, holds back that step and every lower
one for `follow_up_reminder_days` / `follow_up_call_days` / `follow_up_escalate_days`
from the day it was logged: such an invoice step becomes "follow_up_later", with the date
of the next follow-up, and does not count against collector capacity. Climbing to a
higher step is never held back: a customer reminded yesterday who is now past the call
threshold is called.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, get_args

from serving.decisions.grades import RiskGrade, assess_grade
from serving.decisions.policy import GRADES, Policy
from serving.decisions.records import ActionRecord, OpenInvoice, is_missing

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
    "rank_worklist",
]

ActionKind = Literal[
    "escalate",
    "call",
    "dispute_resolution",
    "reminder",
    "follow_up_later",
    "wait_for_promise",
    "none",
]
# Most urgent first (the Literal's order): a customer's next action is the most urgent
# of its invoices'.
ACTIONS: tuple[ActionKind, ...] = get_args(ActionKind)
# Actions that take a collector's time today (and so count against capacity).
WORK_ACTIONS: frozenset[str] = frozenset({"escalate", "call", "dispute_resolution", "reminder"})
_URGENCY = {a: i for i, a in enumerate(ACTIONS)}
# The dunning ladder, lowest step first, and the logged action kind
# (`duecast.schema.ACTION_KINDS`) that records each step.
_LADDER_STEPS: tuple[str, ...] = ("reminder", "call", "escalate")
_LOGGED_STEP = {"reminder": "reminder", "call": "call", "legal": "escalate"}
_DONE_WORDS = {"reminder": "reminded", "call": "called", "escalate": "escalated"}


@dataclass(frozen=True)
class NextAction:
    """The next step for one invoice and why."""

    action: ActionKind
    reason: str


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


@dataclass(frozen=True)
class Worklist:
    """The day's worklist.

    Attributes:
        as_of: the day it is for.
        capacity: items the collectors can work that day.
        items: customers needing work today, priority descending, at most `capacity`.
        overflow: further customers needing work, beyond capacity (same order).
        waiting: customers with nothing to do today (promise pending, next follow-up
            date not reached, or nothing due yet), priority descending.
    """

    as_of: dt.date
    capacity: int
    items: tuple[WorklistItem, ...]
    overflow: tuple[WorklistItem, ...]
    waiting: tuple[WorklistItem, ...]


def expected_loss(open_amount: float, p_default: float | None) -> float:
    """Open amount × P(default); 0 when P(default) is unavailable (NaN / None)."""
    if is_missing(p_default):
        return 0.0
    return float(open_amount) * float(p_default)  # type: ignore[arg-type]


def cost_of_waiting(
    open_amount: float, expected_days_late: float | None, *, policy: Policy
) -> float:
    """Open amount × annual cost of capital × expected days late / 365 (early or unknown: 0)."""
    if is_missing(expected_days_late) or expected_days_late <= 0:  # type: ignore[operator]
        return 0.0
    return float(open_amount) * policy.cost_of_capital * float(expected_days_late) / 365.0  # type: ignore[arg-type]


def priority(
    *, open_amount: float, p_default: float | None, expected_days_late: float | None, policy: Policy
) -> float:
    """Worklist priority of one open invoice: expected loss + cost of waiting."""
    return expected_loss(open_amount, p_default) + cost_of_waiting(
        open_amount, expected_days_late, policy=policy
    )


def dunning_days(grade: str, *, policy: Policy) -> tuple[int, int, int]:
    """(reminder from, call from, escalate after) in days overdue for a customer of `grade`."""
    factor = policy.dunning_factor(grade)

    def scaled(days: int) -> int:
        # Only positive days shrink: scaling a negative (pre-due) day would move it later.
        return math.floor(days * factor) if days > 0 else days

    reminder = policy.reminder_at_days
    call = max(reminder, scaled(policy.call_from_days))
    escalate = max(call, scaled(policy.escalate_after_days))
    return reminder, call, escalate


def _promise_active(promised_date: dt.date, as_of: dt.date, policy: Policy) -> bool:
    return (as_of - promised_date).days <= policy.promise_grace_days


def next_action(
    *,
    days_overdue: int,
    grade: str,
    policy: Policy,
    disputed: bool = False,
    promised_date: dt.date | None = None,
    as_of: dt.date | None = None,
) -> NextAction:
    """Next step for one open invoice.

    Args:
        days_overdue: days past due today (negative = not yet due).
        grade: the customer's risk grade "A".."E" (riskier grades climb sooner).
        policy: the decision policy.
        disputed: the invoice is disputed (dispute resolution, no dunning).
        promised_date: date of the latest promise to pay covering this invoice, if any.
        as_of: today; needed with `promised_date` to tell whether the promise still holds.
    """
    if disputed:
        return NextAction(
            "dispute_resolution", "disputed, so no dunning until the dispute is resolved"
        )
    broken = ""
    if promised_date is not None:
        if as_of is None:
            raise ValueError("next_action needs as_of to judge a promise to pay")
        if _promise_active(promised_date, as_of, policy):
            return NextAction(
                "wait_for_promise",
                f"promised to pay by {promised_date.isoformat()}: dunning paused until then",
            )
        broken = f"promise to pay by {promised_date.isoformat()} was broken; "
    return _ladder_step(days_overdue, grade, dunning_days(grade, policy=policy), policy, broken)


def _ladder_step(
    days_overdue: int, grade: str, ladder: tuple[int, int, int], policy: Policy, broken: str
) -> NextAction:
    """The dunning step for `days_overdue` on a precomputed (reminder, call, escalate)."""
    reminder, call, escalate = ladder
    sooner = ""
    if (call, escalate) != (policy.call_from_days, policy.escalate_after_days):
        sooner = f" (grade {grade} moves up sooner: call from {call}, escalate after {escalate})"
    if days_overdue > escalate:
        return NextAction(
            "escalate",
            f"{broken}{days_overdue} days overdue, past the {escalate}-day escalation "
            f"point{sooner}",
        )
    if days_overdue >= call:
        return NextAction(
            "call", f"{broken}{days_overdue} days overdue: phone follow-up from day {call}{sooner}"
        )
    if days_overdue >= reminder:
        when = "due today" if days_overdue == 0 else _overdue_words(days_overdue)
        return NextAction("reminder", f"{broken}{when}: reminder (calls from day {call}){sooner}")
    if days_overdue < 0:
        return NextAction("none", f"{broken}not due yet ({-days_overdue} days to the due date)")
    return NextAction(
        "none", f"{broken}{_overdue_words(days_overdue)}: reminders start on day {reminder}"
    )


def follow_up_days(step: str, *, policy: Policy) -> int:
    """Days to wait after a logged `step` ("reminder", "call", "escalate") before repeating it."""
    days = {
        "reminder": policy.follow_up_reminder_days,
        "call": policy.follow_up_call_days,
        "escalate": policy.follow_up_escalate_days,
    }
    if step not in days:
        raise ValueError(f"step must be one of {', '.join(_LADDER_STEPS)}, got {step!r}")
    return days[step]


def last_steps(actions: Iterable[ActionRecord], *, as_of: dt.date) -> dict[str, dt.date]:
    """Ladder step -> day it was last logged on or before `as_of` ("legal" = "escalate")."""
    done: dict[str, dt.date] = {}
    for action in actions:
        step = _LOGGED_STEP.get(action.kind)
        if step is None:
            continue
        day = _when(action.at).date()
        if day <= as_of and (step not in done or day > done[step]):
            done[step] = day
    return done


def hold_for_follow_up(
    step: NextAction, *, last_done: Mapping[str, dt.date], as_of: dt.date, policy: Policy
) -> NextAction:
    """`step`, or "follow_up_later" while it or a higher step logged lately awaits follow-up.

    Args:
        step: the invoice's next step from the ladder (`next_action`).
        last_done: ladder step -> day last logged (`last_steps`).
        as_of: today.
        policy: gives the follow-up interval of each step.
    """
    if step.action not in _LADDER_STEPS:
        return step
    height = _LADDER_STEPS.index(step.action)
    # The latest end of any interval still running wins: that is when the step is next due.
    hold: tuple[dt.date, str, dt.date] | None = None
    for done, day in last_done.items():
        if _LADDER_STEPS.index(done) < height:
            continue  # a lower step done never holds back a higher one
        until = day + dt.timedelta(days=follow_up_days(done, policy=policy))
        if until > as_of and (hold is None or until > hold[0]):
            hold = (until, done, day)
    if hold is None:
        return step
    until, done, day = hold
    return NextAction(
        "follow_up_later",
        f"{_DONE_WORDS[done]} {_days_ago((as_of - day).days)} ({day.isoformat()}): next "
        f"follow-up on {until.isoformat()}; {step.reason}",
    )


def _days_ago(days: int) -> str:
    if days == 0:
        return "today"
    return "yesterday" if days == 1 else f"{days} days ago"


def _overdue_words(days: int) -> str:
    if days < 0:
        return f"due in {-days} days"
    return f"{days} day{'s' if days != 1 else ''} overdue"


def _when(value: dt.date | dt.datetime) -> dt.datetime:
    """Comparable instant of a date or (naive or aware) datetime; aware ones in UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    return dt.datetime.combine(value, dt.time.min)


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _weighted(invoices: list[OpenInvoice], attr: str) -> float | None:
    """Open-amount-weighted mean of a score over the invoices that have it."""
    known = [inv for inv in invoices if not is_missing(getattr(inv, attr))]
    weight = sum(inv.open_amount for inv in known)
    if not known or weight <= 0:
        return None
    return sum(inv.open_amount * getattr(inv, attr) for inv in known) / weight


def _customer_grade(
    invoices: list[OpenInvoice], policy: Policy, thresholds: Mapping[str, float] | None
) -> RiskGrade:
    # Weighted by open amount: the grade should reflect where the money is.
    return assess_grade(
        _weighted(invoices, "p_default"),
        _weighted(invoices, "days_late_p50"),
        policy=policy,
        thresholds=thresholds,
    )


def _latest_promises(
    actions: list[ActionRecord],
) -> tuple[ActionRecord | None, dict[str, ActionRecord], ActionRecord | None]:
    """(latest customer-wide promise, latest promise per invoice, latest action)."""
    wide: ActionRecord | None = None
    per_invoice: dict[str, ActionRecord] = {}
    last: ActionRecord | None = None
    for action in actions:
        if last is None or _when(action.at) >= _when(last.at):
            last = action
        if action.kind != "promise" or action.promised_date is None:
            continue
        if action.invoice_id is None:
            if wide is None or _when(action.at) >= _when(wide.at):
                wide = action
        else:
            old = per_invoice.get(action.invoice_id)
            if old is None or _when(action.at) >= _when(old.at):
                per_invoice[action.invoice_id] = action
    return wide, per_invoice, last


def _applicable_promise(
    invoice_id: str, wide: ActionRecord | None, per_invoice: dict[str, ActionRecord]
) -> ActionRecord | None:
    # The newer of the invoice's own promise and a customer-wide one supersedes the other.
    own = per_invoice.get(invoice_id)
    if own is None or wide is None:
        return own or wide
    return own if _when(own.at) >= _when(wide.at) else wide


def _customer_item(
    customer_id: str,
    invoices: list[OpenInvoice],
    actions: list[ActionRecord],
    grade_given: str | None,
    *,
    as_of: dt.date,
    policy: Policy,
    thresholds: Mapping | None,
) -> WorklistItem:
    if grade_given is not None:
        if grade_given not in GRADES:
            raise ValueError(f"unknown grade {grade_given!r} for customer {customer_id}")
        grade, grade_reason, basis = grade_given, f"grade {grade_given}", "given"
    else:
        assessed = _customer_grade(invoices, policy, thresholds)
        grade, grade_reason, basis = assessed.grade, assessed.reason, assessed.basis
    wide, per_invoice, last = _latest_promises(actions)
    done = last_steps(actions, as_of=as_of)
    ladder = dunning_days(grade, policy=policy)
    steps: list[InvoiceStep] = []
    active_promise: ActionRecord | None = None
    for inv in invoices:
        dpd = (as_of - inv.due_date).days
        promise = _applicable_promise(inv.invoice_id, wide, per_invoice)
        if inv.disputed or promise is not None:
            step = next_action(
                days_overdue=dpd,
                grade=grade,
                policy=policy,
                disputed=bool(inv.disputed),
                promised_date=promise.promised_date if promise else None,
                as_of=as_of,
            )
        else:  # the common case, without recomputing the ladder per invoice
            step = _ladder_step(dpd, grade, ladder, policy, "")
        if done:
            step = hold_for_follow_up(step, last_done=done, as_of=as_of, policy=policy)
        if step.action == "wait_for_promise":
            active_promise = promise
        predicted = inv.days_late if not is_missing(inv.days_late) else inv.days_late_p50
        # An invoice already n days overdue will be at least n days late.
        days_late = max(dpd, predicted) if not is_missing(predicted) else max(dpd, 0)
        loss = expected_loss(inv.open_amount, inv.p_default)
        waiting = cost_of_waiting(inv.open_amount, days_late, policy=policy)
        steps.append(
            InvoiceStep(
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
        )
    steps.sort(key=lambda s: (_URGENCY[s.action], -s.priority, s.invoice_id))
    lead = steps[0]
    open_amount = sum(s.open_amount for s in steps)
    overdue = [s for s in steps if s.days_overdue > 0]
    overdue_amount = sum(s.open_amount for s in overdue)
    loss = sum(s.expected_loss for s in steps)
    waiting_cost = sum(s.cost_of_waiting for s in steps)
    reasons = [f"invoice {lead.invoice_id}: {lead.reason}"]
    if overdue:
        oldest = max(s.days_overdue for s in overdue)
        reasons.append(
            f"{len(overdue)} of {len(steps)} open invoices overdue, {_money(overdue_amount)} "
            f"in total, the oldest {oldest} days"
        )
    if any(not is_missing(s.p_default) for s in steps):
        reasons.append(
            f"expected loss {_money(loss)} on {_money(open_amount)} open "
            f"({loss / open_amount:.1%} average chance of default)"
            if open_amount > 0
            else f"expected loss {_money(loss)}"
        )
    else:
        reasons.append("no default model yet: priority counts only the cost of waiting")
    reasons.append(
        f"cost of waiting {_money(waiting_cost)} at {policy.cost_of_capital:.0%} a year "
        "cost of capital"
    )
    if basis != "given":
        reasons.append(grade_reason)
    return WorklistItem(
        customer_id=customer_id,
        rank=0,
        priority=loss + waiting_cost,
        expected_loss=loss,
        cost_of_waiting=waiting_cost,
        open_amount=open_amount,
        overdue_amount=overdue_amount,
        max_days_overdue=max(s.days_overdue for s in steps),
        grade=grade,
        next_action=lead.action,
        reasons=tuple(reasons),
        invoices=tuple(steps),
        last_action=last,
        promise=active_promise,
    )


def rank_worklist(
    invoices: Iterable[OpenInvoice],
    *,
    as_of: dt.date,
    policy: Policy,
    actions: Iterable[ActionRecord] = (),
    grades: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    collectors: int = 1,
) -> Worklist:
    """The day's worklist: open invoices grouped by customer, ranked by priority.

    Args:
        invoices: every open invoice (open amount > 0) with its scores; invoices with no
            open amount are ignored.
        as_of: today.
        policy: the decision policy (cost of capital, dunning ladder, capacity).
        actions: logged actions of these customers (promises pause dunning; reminders,
            calls and escalations hold back their step until its follow-up interval has
            passed; the latest action is shown); actions dated after `as_of` are ignored.
        grades: customer_id -> risk grade, e.g. from scoring a typical new invoice;
            customers missing here are graded from their open invoices' open-amount-
            weighted P(default) (or predicted days late without a default model).
        thresholds: a bundle's grade cut-offs, used when grading here.
        collectors: collectors working the list; capacity = collectors ×
            `policy.collector_capacity`.

    Returns:
        `Worklist` with today's `items` (priority descending, at most capacity), the
        `overflow` beyond capacity, and the customers `waiting` (nothing to do today).
    """
    if collectors < 1:
        raise ValueError("collectors must be at least 1")
    by_customer: dict[str, list[OpenInvoice]] = defaultdict(list)
    for inv in invoices:
        if inv.open_amount > 0:
            by_customer[inv.customer_id].append(inv)
    acts: dict[str, list[ActionRecord]] = defaultdict(list)
    cutoff = dt.datetime.combine(as_of, dt.time.max)
    for action in actions:
        if action.customer_id in by_customer and _when(action.at) <= cutoff:
            acts[action.customer_id].append(action)
    grades = grades or {}
    built = [
        _customer_item(
            cid,
            invs,
            acts.get(cid, []),
            grades.get(cid),
            as_of=as_of,
            policy=policy,
            thresholds=thresholds,
        )
        for cid, invs in by_customer.items()
    ]
    # Ties (e.g. no scores) go to the longest overdue, then a stable id order.
    built.sort(key=lambda it: (-it.priority, -it.max_days_overdue, it.customer_id))
    work = [it for it in built if it.next_action in WORK_ACTIONS]
    waiting = tuple(it for it in built if it.next_action not in WORK_ACTIONS)
    ranked = [_with_rank(it, k) for k, it in enumerate(work, start=1)]
    capacity = collectors * policy.collector_capacity
    return Worklist(
        as_of=as_of,
        capacity=capacity,
        items=tuple(ranked[:capacity]),
        overflow=tuple(ranked[capacity:]),
        waiting=waiting,
    )


def _with_rank(item: WorklistItem, rank: int) -> WorklistItem:
    return replace(item, rank=rank)
