"""Batch decisions from the champion: `score` every open invoice, print the `worklist`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from duecast.cli._common import console, load_settings, parse_date, user_errors

__all__ = ["score_", "worklist_"]


def score_(
    out: Annotated[Path, typer.Option(help="Parquet file to write the scores to.")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Score as of YYYY-MM-DD (default: the serving date)."),
    ] = None,
) -> None:
    """Score every open invoice with the champion: p_default, days late p10/p50/p90, loss."""
    from features.export import write_table
    from serving.loader import load_state
    from serving.usecases.invoices import open_invoice_scores

    settings = load_settings()
    day = parse_date(as_of, "--as-of") if as_of else None
    with user_errors():
        state = load_state(settings, as_of=day)
        scores = open_invoice_scores(state)
        path = write_table(scores, out)
    console.print(
        f"as of {state.as_of}, model version {state.bundle.model_version}: "
        f"{len(scores):,} open invoices, open {scores['open_amount'].sum():,.2f}, "
        f"expected loss {scores['expected_loss'].sum():,.2f} -> {path}",
        highlight=False,
    )


def worklist_(
    top: Annotated[int, typer.Option(min=1, help="Customers to show.")] = 20,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Worklist of YYYY-MM-DD (default: the serving date)."),
    ] = None,
) -> None:
    """Print today's collections worklist: who to remind, call or escalate, and why."""
    from serving.loader import load_state
    from serving.usecases.worklist import worklist_page

    settings = load_settings()
    day = parse_date(as_of, "--as-of") if as_of else None
    with user_errors():
        page = worklist_page(load_state(settings, as_of=day), limit=top)
    split = ", ".join(f"{step} {n}" for step, n in page.step_capacity.items())
    automated = "; reminders automated" if page.reminders_automated else ""
    table = Table(
        title=f"Worklist {page.as_of}: {page.count} of {page.total} customers, "
        f"{page.today} on today's list (capacity {page.capacity}: {split}{automated}; "
        f"model {page.model_version})"
    )
    numbers = ("overdue", "recovery")
    for column in ("#", "customer", "grade", "next action", "collector", *numbers, "why"):
        table.add_column(column, justify="right" if column in numbers else "left")
    for item in page.data:
        action = item.next_action + (" (auto)" if item.automated else "")
        table.add_row(
            str(item.rank) if item.today else f"({item.rank})",
            f"{item.customer_id} {item.name or ''}".strip(),
            item.risk_grade,
            action,
            item.collector or "team",
            f"{item.overdue_amount:,.2f}",
            f"{item.expected_recovery:,.2f}",
            escape(item.reasons[0] if item.reasons else ""),
        )
    console.print(table)
