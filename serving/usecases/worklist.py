"""The day's worklist as the API, the CLI and the page show it: one page, ranked."""

from __future__ import annotations

from serving.decisions.worklist import WorklistItem
from serving.reasons import risk_target
from serving.schemas import WorklistItemOut, WorklistOut
from serving.state import ServingState
from serving.usecases.present import action_out

__all__ = ["worklist_page"]


def _item_out(state: ServingState, rank: int, item: WorklistItem) -> WorklistItemOut:
    entry = state.entry(item.customer_id)
    return WorklistItemOut(
        rank=rank,
        customer_id=item.customer_id,
        name=entry.name,
        priority=round(item.priority, 2),
        expected_loss=round(item.expected_loss, 2),
        open_amount=round(item.open_amount, 2),
        overdue_amount=round(item.overdue_amount, 2),
        max_days_overdue=item.max_days_overdue,
        risk_grade=item.grade,
        next_action=item.next_action,
        next_action_invoice=item.invoices[0].invoice_id if item.invoices else None,
        reasons=list(item.reasons),
        last_action=None if item.last_action is None else action_out(item.last_action),
    )


def worklist_page(
    state: ServingState,
    *,
    limit: int | None,
    offset: int = 0,
    grade: str | None = None,
    collector: str | None = None,
    include_waiting: bool = False,
) -> WorklistOut:
    """A page of the day's worklist, priority descending.

    Args:
        limit: items per page (default: the collectors' capacity for the day).
        offset: items to skip.
        grade: only customers of this risk grade.
        collector: only customers whose last action this collector logged (their
            accounts in progress).
        include_waiting: also customers with nothing to do today (promise pending,
            follow-up date not reached, not due yet), after those needing work.
    """
    work, waiting = state.ranked()
    items = work + waiting if include_waiting else work
    if grade:
        items = [it for it in items if it.grade == grade]
    if collector:
        items = [
            it
            for it in items
            if it.last_action is not None and (it.last_action.author or "") == collector
        ]
    capacity = state.policy.collector_capacity
    limit = capacity if limit is None else limit
    page = items[offset : offset + limit]
    data = [_item_out(state, offset + k + 1, it) for k, it in enumerate(page)]
    target = risk_target(state.bundle)
    return WorklistOut(
        data=data,
        count=len(data),
        total=len(items),
        capacity=capacity,
        as_of=state.as_of,
        model_version=state.bundle.model_version,
        risk_target=target.name,
        very_late_days=target.days,
    )
