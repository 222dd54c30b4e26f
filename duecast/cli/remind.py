"""`duecast remind`: the dunning ladder's automatic reminders, by e-mail (cron-friendly)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from duecast.cli._common import console, load_settings, parse_date, progress_bars, user_errors

if TYPE_CHECKING:
    from serving.reminders import RunReport

__all__ = ["remind_"]


def _plan_table(report: RunReport) -> Table:
    table = Table(
        title=f"Reminders as of {report.as_of}: {len(report.batches)} e-mails would be sent "
        "(dry run; --send sends them)"
    )
    for column in ("customer", "recipient", "language", "invoices", "amount"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for batch in report.batches:
        table.add_row(
            escape(f"{batch.customer_id} {batch.name}"),
            escape(batch.recipient or "(no e-mail address: not sent)"),
            batch.language,
            escape(", ".join(line.invoice_id for line in batch.lines)),
            ", ".join(f"{amount:,.2f} {cur}" for cur, amount in batch.totals.items()),
        )
    return table


def _print_outcomes(report: RunReport) -> None:
    console.print(
        f"Reminders as of {report.as_of}: {report.count('sent')} sent, "
        f"{report.count('retrying')} retrying, {report.count('failed')} failed, "
        f"{report.count('no_address')} without an e-mail address",
        highlight=False,
        soft_wrap=True,  # one line a cron mail or a grep can read
    )
    problems = [o for o in report.outcomes if o.status in ("failed", "retrying", "no_address")]
    if not problems:
        return
    table = Table(title="Not sent")
    for column in ("customer", "recipient", "status", "invoices", "error"):
        table.add_column(column)
    for o in problems:
        table.add_row(
            o.customer_id,
            escape(o.recipient or ""),
            o.status,
            escape(", ".join(o.invoice_ids)),
            escape(o.error or ""),
        )
    console.print(table)


def remind_(
    send: Annotated[
        bool, typer.Option("--send", help="Send the e-mails (default: print what would be sent).")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Remind as of YYYY-MM-DD (default: the serving date)."),
    ] = None,
) -> None:
    """E-mail the day's automated reminders; exit 1 when a mail failed for good.

    Without --send it prints what it would send and writes nothing. Each (invoice, step)
    is sent at most once; disputed and promised invoices are never reminded.
    """
    from serving.reminders import plan_reminders, send_reminders

    settings = load_settings()
    day = parse_date(as_of, "--as-of") if as_of else None
    with user_errors():
        if not send:
            console.print(_plan_table(plan_reminders(settings, as_of=day)))
            return
        with progress_bars() as progress:
            report = send_reminders(
                settings, as_of=day, on_progress=lambda done, n: progress("e-mails", done, n)
            )
    _print_outcomes(report)
    if report.failed:
        raise typer.Exit(code=1)
