"""The day's worklist as the API, the CLI and the page show it: one page, ranked.

The day's list comes first (`serving.decisions.allocation.plan_day`: each collector's
capacity split among the steps, the best customers of each step by expected recovery,
then the automated reminders), then the overflow beyond capacity, then (on request) the
customers with nothing to do today.
"""

from __future__ import annotations

from serving.decisions.allocation import is_automated, plan_day
from serving.decisions.worklist import WorklistItem
from serving.reasons import risk_target
from serving.schemas import WorklistItemOut, WorklistOut
from serving.state import ServingState
from serving.usecases.present import action_out

__all__ = ["is_mine", "worklist_page"]


def _item_out(
    state: ServingState, rank: int, item: WorklistItem, *, today: bool
) -> WorklistItemOut:
    entry = state.entry(item.customer_id)
    return WorklistItemOut(
        rank=rank,
        customer_id=item.customer_id,
        name=entry.name,
        priority=round(item.priority, 2),
        expected_loss=round(item.expected_loss, 2),
        expected_recovery=round(item.expected_recovery, 2),
        open_amount=round(item.open_amount, 2),
        overdue_amount=round(item.overdue_amount, 2),
        max_days_overdue=item.max_days_overdue,
        risk_grade=item.grade,
        next_action=item.next_action,
        next_action_invoice=item.invoices[0].invoice_id if item.invoices else None,
        collector=item.collector,
        today=today,
        automated=today and is_automated(item, state.policy),
        reasons=list(item.reasons),
        last_action=None if item.last_action is None else action_out(item.last_action),
    )


def is_mine(item: WorklistItem, collector: str) -> bool:
    """Assigned to `collector`, or in the team queue and last worked by them."""
    if item.collector is not None:
        return item.collector == collector
    return item.last_action is not None and (item.last_action.author or "") == collector


def worklist_page(
    state: ServingState,
    *,
    limit: int | None,
    offset: int = 0,
    grade: str | None = None,
    collector: str | None = None,
    include_waiting: bool = False,
) -> WorklistOut:
    """A page of the day's worklist: the day's list, the overflow, then waiting customers.

    Args:
        limit: items per page (default: the capacity, or the day's list when longer).
        offset: items to skip.
        grade: only customers of this risk grade.
        collector: only the accounts assigned to this collector (and the team-queue
            accounts whose last action they logged).
        include_waiting: also customers with nothing to do today (promise pending,
            follow-up date not reached, dispute awaiting its credit note, not due yet).
    """
    work, waiting = state.ranked()
    plan = plan_day(work, policy=state.policy)
    listed = [(it, True) for it in plan.today] + [(it, False) for it in plan.overflow]
    if include_waiting:
        listed += [(it, False) for it in waiting]
    if grade:
        listed = [(it, t) for it, t in listed if it.grade == grade]
    if collector:
        listed = [(it, t) for it, t in listed if is_mine(it, collector)]
    today = sum(1 for _, t in listed if t)
    # The whole day's list at least (automated reminders may take it past capacity).
    limit = max(today, plan.capacity) if limit is None else limit
    page = listed[offset : offset + limit]
    data = [_item_out(state, offset + k + 1, it, today=t) for k, (it, t) in enumerate(page)]
    target = risk_target(state.bundle)
    return WorklistOut(
        data=data,
        count=len(data),
        total=len(listed),
        today=today,
        capacity=plan.capacity,
        step_capacity=plan.quotas,
        reminders_automated=state.policy.reminders_automated,
        as_of=state.as_of,
        model_version=state.bundle.model_version,
        risk_target=target.name,
        very_late_days=target.days,
    )
