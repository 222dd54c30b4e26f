"""Data commands: `generate` a synthetic ledger, `import` exports, write the `features` table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

# Imported at start, unlike the commands' packages: `--help` lists the profile and preset
# names, and these modules hold only dataclasses and names (no pandas, no numpy).
from features.presets import PRESETS
from features.synthetic_profiles import PROFILES

if TYPE_CHECKING:
    from features.importing import ImportSummary

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
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR",
            help="Folder with the export files (not needed with --list-presets).",
            show_default=False,
        ),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="TOML column mapping for a foreign export format.")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help=f"Ready-made mapping for a system's export: {', '.join(PRESETS)} "
            "(--list-presets shows the files each expects).",
            show_default=False,
        ),
    ] = None,
    list_presets_: Annotated[
        bool,
        typer.Option("--list-presets", help="List the presets and the files each expects."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check everything and count the changes; write nothing."),
    ] = False,
    reject_file: Annotated[
        Path | None,
        typer.Option(
            "--reject-file",
            metavar="FILE",
            help="Import the good rows; write the rejected ones with their problems to FILE.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate and import CSV/Excel/Parquet exports into the store (all or nothing, idempotent).

    A running `duecast serve` picks the changed customers up on its next request.
    """
    if list_presets_:
        _print_presets()
        return
    if directory is None:
        raise typer.BadParameter("give the folder to import (or --list-presets)", param_hint="DIR")
    if mapping is not None and preset is not None:
        raise typer.BadParameter(
            "use either --mapping FILE or --preset NAME, not both (a preset is a mapping file; "
            "copy it and pass the copy with --mapping to change it)",
            param_hint="--preset",
        )
    from features.importing import import_directory
    from features.presets import preset_path
    from features.store import get_engine

    settings = load_settings()
    with user_errors(), progress_bars() as progress:
        spec = preset_path(preset) if preset is not None else mapping
        summary = import_directory(
            get_engine(settings.database_url),
            directory,
            mapping=spec,
            dry_run=dry_run,
            reject_file=reject_file,
            error_cap=settings.import_error_cap,
            chunk_rows=settings.import_chunk_rows,
            on_progress=progress,
        )
    _print_summary(summary, reject_file)


def _print_presets() -> None:
    from features.presets import list_presets

    table = Table("preset", "reads", "expects in DIR")
    for item in list_presets():
        table.add_row(item.name, item.description, "\n".join(item.files))
    console.print(table)
    console.print("usage: duecast import DIR --preset NAME  (the mapping files: features/presets/)")


def _print_summary(summary: ImportSummary, reject_file: Path | None) -> None:
    columns = ("read", "inserted", "updated", "unchanged", "rejected", "deleted")
    table = Table("table", *columns, title="dry run: nothing written" if summary.dry_run else None)
    for name, counts in summary.tables.items():
        table.add_row(name, *(f"{getattr(counts, c):,}" for c in columns))
    console.print(table)
    for name, counts in summary.tables.items():
        if counts.restated:
            console.print(
                f"{name}: {counts.restated:,} stored row(s) the files did not carry were "
                "converted again at their invoice's new exchange rate (counted in read)"
            )
    if summary.rejected_rows and reject_file is not None:
        console.print(
            f"{summary.rejected_rows:,} row(s) rejected ({summary.problems:,} problem(s)) "
            f"-> {reject_file}"
        )
    if summary.dry_run and summary.schema_changed:
        console.print(
            "dry run: no rows were written; the store's schema was created or upgraded to "
            "this release's; the counts are what the import would do."
        )
    elif summary.dry_run:
        console.print(
            "dry run: nothing was written to the store; the counts are what the import would do."
        )
    elif summary.customers_changed:
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
