"""Data commands: `generate` a synthetic ledger, `import` exports, write the `features` table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from duecast.cli._common import (
    console,
    err_console,
    load_settings,
    parse_date,
    progress_bars,
    user_errors,
)

# Imported at start, unlike the commands' packages: `--help` lists the profile names,
# and this module holds only dataclasses (no pandas, no numpy).
from features.synthetic_profiles import PROFILES

__all__ = ["features_", "generate", "import_"]


def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the CSV files into.")],
    customers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Number of customers (default: the profile's).", show_default=False
        ),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help=f"Ledger profile: {', '.join(PROFILES)} (features/synthetic_profiles.py)."
        ),
    ] = "default",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    years: Annotated[
        float | None,
        typer.Option(
            min=0.1, max=20, help="Years of history (default: the profile's).", show_default=False
        ),
    ] = None,
    end_date: Annotated[
        str | None,
        typer.Option("--end-date", help="Last day of history, YYYY-MM-DD (default: today)."),
    ] = None,
    default_rate: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=0.49, help="Share of invoices that default (0 = every invoice is paid)."
        ),
    ] = None,
) -> None:
    """Write a realistic synthetic AR ledger as CSV files in the canonical import format.

    Each --profile is a shape real books have, described in features/synthetic_profiles.py.
    """
    from features.synthetic import generate_ledger, write_ledger

    end = parse_date(end_date, "--end-date") if end_date else None
    with user_errors(), progress_bars() as progress:
        frames = generate_ledger(
            customers=customers,
            seed=seed,
            years=years,
            end_date=end,
            default_rate=default_rate,
            profile=profile,
            on_progress=progress,
        )
        paths = write_ledger(frames, out)
    for name, path in paths.items():
        console.print(f"{name:<12} {len(frames[name]):>10,} rows  {path}")


def import_(
    directory: Annotated[Path, typer.Argument(help="Folder with customers/invoices/... files.")],
    mapping: Annotated[
        Path | None, typer.Option(help="TOML column mapping for a foreign export format.")
    ] = None,
) -> None:
    """Validate and import CSV/Parquet exports into the store (all or nothing, idempotent).

    A running `duecast serve` picks the changed customers up on its next request.
    """
    from features.importing import import_directory
    from features.store import get_engine

    settings = load_settings()
    with user_errors(), progress_bars() as progress:
        summary = import_directory(
            get_engine(settings.database_url),
            directory,
            mapping=mapping,
            error_cap=settings.import_error_cap,
            chunk_rows=settings.import_chunk_rows,
            on_progress=progress,
        )
    table = Table("table", "read", "inserted", "updated", "unchanged", "rejected")
    for name, counts in summary.tables.items():
        table.add_row(
            name,
            *(
                f"{v:,}"
                for v in (
                    counts.read,
                    counts.inserted,
                    counts.updated,
                    counts.unchanged,
                    counts.rejected,
                )
            ),
        )
    console.print(table)
    if summary.customers_changed:
        console.print(
            f"{summary.customers_changed:,} customer(s) changed: running servers pick them "
            "up on their next request."
        )


def features_(
    out: Annotated[Path, typer.Option(help="Parquet file to write the table to.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Cut date YYYY-MM-DD: only events dated before it are used "
            "(default: the day after the store's last event dated on or before today; "
            "later rows are left out with a warning).",
        ),
    ] = None,
    snapshot_every: Annotated[
        int | None,
        typer.Option(
            "--snapshot-every",
            min=0,
            metavar="DAYS",
            help="Extra rows for invoices still open every DAYS days after issue "
            "(0 = issue date only; default DUECAST_TRAINING_SNAPSHOT_EVERY_DAYS, as training).",
        ),
    ] = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(min=1, help="Default horizon H in days (default DUECAST_HORIZON_DAYS)."),
    ] = None,
) -> None:
    """Write the point-in-time training table (keys, features, labels) of the store as Parquet."""
    from features.export import write_table
    from training.dataset import load_training_table

    settings = load_settings()
    cut = parse_date(as_of, "--as-of") if as_of else None
    every = settings.training_snapshot_every_days if snapshot_every is None else snapshot_every
    horizon = horizon_days or settings.horizon_days
    stage = "features"
    with user_errors(), progress_bars() as progress:
        progress(stage, 0, 2)
        table, cut, _ = load_training_table(
            settings, as_of=cut, horizon_days=horizon, snapshot_every_days=every
        )
        progress(stage, 1, 2)
        path = write_table(table, out)
        progress(stage, 2, 2)
    invoices = table["invoice_id"].nunique()
    console.print(
        f"as of {cut}: {len(table):,} rows ({invoices:,} invoices with a known outcome, "
        f"snapshots {'every ' + str(every) + ' days' if every else 'at issue only'}) -> {path}"
    )
    if len(table):
        outcomes = table.drop_duplicates("invoice_id")
        console.print(
            f"default rate {outcomes['default'].mean():.1%}, "
            f"mean days late {outcomes['days_late'].mean():.1f} (horizon {horizon} days)"
        )
    else:
        err_console.print(
            f"no invoice has a known outcome before {cut}: pick a later --as-of "
            f"(outcomes are known once settled or {horizon} days past due)"
        )
