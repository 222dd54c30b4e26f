"""The worklist page's rows: the day's list filtered, sorted, paged, with totals and aging.

Functions of the serving state and the page's query, so the page, its HTMX fragment and
the benchmark run the same code. The rows (the day's plan, names, aging per customer)
are built once per ranking of the state and kept; a request filters, sorts and sums
them, and only the page's rows are formatted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from serving.decisions.allocation import is_automated, plan_day
from serving.decisions.worklist import WorklistItem
from serving.state import ServingState
from serving.usecases.worklist import is_mine

__all__ = [
    "AGING_BUCKETS",
    "SORTS",
    "WorklistQuery",
    "WorklistRow",
    "WorklistView",
    "worklist_view",
]

# (label, first day overdue, last day overdue): the aging report's usual buckets.
AGING_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("current", -(10**6), 0),
    ("1–30", 1, 30),
    ("31–60", 31, 60),
    ("61–90", 61, 90),
    ("90+", 91, 10**6),
)

_Key = Callable[["WorklistRow"], object]
# Sortable columns: the key, and whether "descending" is the natural first click.
SORTS: dict[str, tuple[_Key, bool]] = {
    "rank": (lambda r: r.rank, False),
    "name": (lambda r: r.name.casefold(), False),
    "grade": (lambda r: r.item.grade, True),
    "priority": (lambda r: r.item.priority, True),
    "expected_loss": (lambda r: r.item.expected_loss, True),
    "open": (lambda r: r.item.open_amount, True),
    "overdue": (lambda r: r.item.overdue_amount, True),
    "days": (lambda r: r.item.max_days_overdue, True),
}


@dataclass(frozen=True)
class WorklistQuery:
    """What the page was asked for; every field comes from the URL, so a view can be shared."""

    collector: str | None = None
    grade: str | None = None
    step: str | None = None
    q: str | None = None
    mine_of: str | None = None
    waiting: bool = False
    sort: str = "rank"
    descending: bool = False
    page: int = 1
    size: int = 50


@dataclass(frozen=True)
class WorklistRow:
    """One customer as the page shows it."""

    rank: int
    name: str
    item: WorklistItem
    today: bool
    automated: bool
    aging: tuple[float, ...]  # open amount per AGING_BUCKETS bucket


@dataclass(frozen=True)
class WorklistView:
    """A page of rows with the filtered set's totals and aging buckets."""

    rows: list[WorklistRow]
    total: int
    page: int
    pages: int
    today: int
    open_amount: float
    overdue_amount: float
    expected_loss: float
    aging: list[tuple[str, float]]
    collectors: list[str]
    steps: list[str] = field(default_factory=list)


def _matches(row: WorklistRow, query: WorklistQuery, needle: str) -> bool:
    it = row.item
    if query.grade and it.grade != query.grade:
        return False
    if query.step and it.next_action != query.step:
        return False
    if query.collector is not None and (it.collector or "") != query.collector:
        return False
    if query.mine_of and not is_mine(it, query.mine_of):
        return False
    return not needle or needle in row.name.casefold() or needle in it.customer_id.casefold()


def _aging_of(item: WorklistItem) -> tuple[float, ...]:
    """The customer's open amount in each aging bucket."""
    sums = [0.0] * len(AGING_BUCKETS)
    for inv in item.invoices:
        for k, (_, low, high) in enumerate(AGING_BUCKETS):
            if low <= inv.days_overdue <= high:
                sums[k] += inv.open_amount
                break
    return tuple(sums)


def _aging(rows: Sequence[WorklistRow]) -> list[tuple[str, float]]:
    sums = [0.0] * len(AGING_BUCKETS)
    for row in rows:
        for k, amount in enumerate(row.aging):
            sums[k] += amount
    labels = [label for label, _, _ in AGING_BUCKETS]
    return [(label, round(total, 2)) for label, total in zip(labels, sums, strict=True)]


def _build_rows(state: ServingState, *, waiting: bool) -> list[WorklistRow]:
    work, rest = state.ranked()
    plan = plan_day(work, policy=state.policy)
    listed = [(it, True) for it in plan.today] + [(it, False) for it in plan.overflow]
    if waiting:
        listed += [(it, False) for it in rest]
    return [
        WorklistRow(
            rank=k + 1,
            name=state.entry(it.customer_id).name,
            item=it,
            today=today,
            automated=today and is_automated(it, state.policy),
            aging=_aging_of(it),
        )
        for k, (it, today) in enumerate(listed)
    ]


# The rows of the last rankings seen, by (ranking, with waiting customers): the plan and
# the rows change only when the state's ranking does (a write or a new day), while the
# page is asked for every filter, sort and page in between. The ranking object itself is
# kept, and compared by identity, so a new ranking is never mistaken for an old one.
_ROWS: OrderedDict[tuple[int, bool], tuple[object, list[WorklistRow]]] = OrderedDict()
_ROWS_KEPT = 4
_ROWS_LOCK = threading.Lock()


def _all_rows(state: ServingState, *, waiting: bool) -> list[WorklistRow]:
    ranking = state.ranked()
    key = (id(ranking), waiting)
    with _ROWS_LOCK:
        hit = _ROWS.get(key)
        if hit is not None and hit[0] is ranking:
            return hit[1]
    rows = _build_rows(state, waiting=waiting)
    with _ROWS_LOCK:
        _ROWS[key] = (ranking, rows)
        while len(_ROWS) > _ROWS_KEPT:
            _ROWS.popitem(last=False)
    return rows


def worklist_view(state: ServingState, query: WorklistQuery) -> WorklistView:
    """The page `query` asks for, from the state's ranked worklist."""
    rows = _all_rows(state, waiting=query.waiting)
    collectors = sorted({c for r in rows if (c := r.item.collector)})
    steps: list[str] = sorted({r.item.next_action for r in rows})
    needle = (query.q or "").strip().casefold()
    chosen = [r for r in rows if _matches(r, query, needle)]
    key, _ = SORTS.get(query.sort, SORTS["rank"])
    if query.sort != "rank" or query.descending:
        chosen.sort(key=key, reverse=query.descending)  # type: ignore[arg-type]
    pages = max(1, -(-len(chosen) // query.size))
    page = min(max(1, query.page), pages)
    start = (page - 1) * query.size
    return WorklistView(
        rows=chosen[start : start + query.size],
        total=len(chosen),
        page=page,
        pages=pages,
        today=sum(1 for r in chosen if r.today),
        open_amount=round(sum(r.item.open_amount for r in chosen), 2),
        overdue_amount=round(sum(r.item.overdue_amount for r in chosen), 2),
        expected_loss=round(sum(r.item.expected_loss for r in chosen), 2),
        aging=_aging(chosen),
        collectors=collectors,
        steps=steps,
    )
