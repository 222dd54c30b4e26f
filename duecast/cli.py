"""The `duecast` command line.

Each command imports its layer lazily, so `duecast --help` stays fast and a command
pays only for what it uses. Domain errors (`DuecastError`) are printed as one clear
message with exit code 1; usage errors exit with 2 (typer's convention).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from duecast.config import Settings, get_settings
from duecast.errors import DuecastError
from duecast.logs import configure_logging

__all__ = ["app"]

app = typer.Typer(
    name="duecast",
    help="Predict late payment of invoices and turn it into decisions for AR teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
logger = logging.getLogger("duecast")

ProgressCallback = Callable[[str, int, int], None]


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    configure_logging("DEBUG" if verbose else "INFO")


@contextmanager
def _progress() -> Iterator[ProgressCallback]:
    """A rich progress bar driven by `(stage, done, total)` callbacks, one bar per stage."""
    tasks: dict[str, int] = {}
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal,
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        yield update


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a DuecastError into one readable message and exit code 1, not a traceback."""
    try:
        yield
    except DuecastError as exc:
        # Messages quote file contents and paths: never let rich read them as markup.
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(code=1) from exc


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        err_console.print(f"[bold red]error:[/] invalid DUECAST_* setting:\n{exc}")
        raise typer.Exit(code=2) from exc


# ---------------------------------------------------------------- data


@app.command()
def generate(
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")],
    out: Annotated[Path, typer.Option(help="Folder to write the CSV files into.")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    years: Annotated[float, typer.Option(min=0.1, max=20, help="Years of history.")] = 3.0,
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
    """Write a realistic synthetic AR ledger as CSV files in the canonical import format."""
    from features.synthetic import generate_ledger, write_ledger

    end = _parse_date(end_date, "--end-date") if end_date else None
    with _user_errors(), _progress() as progress:
        frames = generate_ledger(
            customers=customers,
            seed=seed,
            years=years,
            end_date=end,
            default_rate=default_rate,
            on_progress=progress,
        )
        paths = write_ledger(frames, out)
    for name, path in paths.items():
        console.print(f"{name:<12} {len(frames[name]):>10,} rows  {path}")


@app.command("import")
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

    settings = _settings()
    with _user_errors(), _progress() as progress:
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


@app.command("features")
def features_(
    out: Annotated[Path, typer.Option(help="Parquet file to write the table to.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Cut date YYYY-MM-DD: only events dated before it are used "
            "(default: the day after the store's last event).",
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
    from features.build import build_training_table
    from features.export import default_as_of, ledger_from_store, write_table
    from features.store import get_engine

    settings = _settings()
    cut = _parse_date(as_of, "--as-of") if as_of else None
    every = settings.training_snapshot_every_days if snapshot_every is None else snapshot_every
    horizon = horizon_days or settings.horizon_days
    stage = "features"
    with _user_errors(), _progress() as progress:
        progress(stage, 0, 3)
        ledger = ledger_from_store(get_engine(settings.database_url))
        cut = cut or default_as_of(ledger)
        progress(stage, 1, 3)
        table = build_training_table(
            ledger, as_of=cut, horizon_days=horizon, snapshot_every_days=every or None
        )
        progress(stage, 2, 3)
        path = write_table(table, out)
        progress(stage, 3, 3)
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


# ---------------------------------------------------------------- API keys

apikey_app = typer.Typer(help="Manage API keys of the REST API.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="scorer, collector or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from features.store import get_engine
    from serving.auth import create_api_key

    settings = _settings()
    with _user_errors():
        key, plaintext = create_api_key(get_engine(settings.database_url), role=role, name=name)
    err_console.print(f"API key {key.key_id} ({key.role}, {key.name}); it is shown only once:")
    console.print(plaintext)


# ---------------------------------------------------------------- training


@app.command("train")
def train_(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Cut date YYYY-MM-DD: train on what was known before it "
            "(default: the day after the store's last event).",
        ),
    ] = None,
) -> None:
    """Train and backtest models and baselines, log to MLflow, register a challenger."""
    from training.pipeline import train

    settings = _settings()
    cut = _parse_date(as_of, "--as-of") if as_of else None
    with _user_errors(), _progress() as progress:
        outcome = train(settings, as_of=cut, on_progress=progress)
    for warning in outcome.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if outcome.default_unavailable_reason:
        err_console.print(
            f"[yellow]no default model:[/] {escape(outcome.default_unavailable_reason)}",
            highlight=False,
        )
    console.print(_evaluation_table(outcome.evaluation))
    console.print(
        f"Registered {settings.mlflow_model_name} version {outcome.version} as challenger "
        f"(run {outcome.run_id}). Next: `duecast evaluate`, then `duecast promote`."
    )


@app.command("evaluate")
def evaluate_(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Backtest metrics of the challenger (or champion) against the baselines, same test period."""
    import json

    from training.pipeline import evaluate

    settings = _settings()
    with _user_errors():
        evaluation = evaluate(settings)
    if as_json:
        typer.echo(json.dumps(evaluation, indent=2))
        return
    console.print(_evaluation_table(evaluation))
    console.print(f"Plots: {evaluation['plots']}", highlight=False, soft_wrap=True)


@app.command("promote")
def promote_(
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the challenger is worse.")
    ] = False,
) -> None:
    """Make the challenger the champion if it is not worse, and export it for serving."""
    from training.pipeline import promote

    settings = _settings()
    with _user_errors():
        outcome = promote(settings, force=force)
    for side, metrics in outcome.comparison.items():
        console.print(f"{side:<11} " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
    if not outcome.promoted:
        err_console.print(
            f"[bold red]refused:[/] version {outcome.challenger} stays challenger; champion "
            f"is still version {outcome.previous_champion}:",
            highlight=False,
        )
        for reason in outcome.reasons:
            err_console.print(f"  - {escape(reason)}", highlight=False)
        err_console.print("Use --force to promote anyway.")
        raise typer.Exit(code=1)
    console.print(
        f"Version {outcome.challenger} is the champion ({'; '.join(outcome.reasons)}); "
        f"bundle exported to {outcome.bundle_dir}",
        highlight=False,
    )


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _evaluation_table(evaluation: dict) -> Table:
    """The backtest as a table: one column per model / baseline, one row per metric."""
    start, end = evaluation["test_period"]
    table = Table(title=f"Test period {start} .. {end} (version {evaluation.get('model_version')})")
    table.add_column("metric")
    blocks = []
    for target in ("default", "days_late"):
        block = evaluation.get(target)
        if block is None:
            continue
        blocks.append((target, "model", block["model"]))
        blocks.extend((target, name, m) for name, m in block["baselines"].items())
    names = list(dict.fromkeys(name for _, name, _ in blocks))
    for name in names:
        table.add_column(name, justify="right")
    for target in ("default", "days_late"):
        block = evaluation.get(target)
        if block is None:
            reason = evaluation.get(f"{target}_unavailable_reason") or "not trained"
            table.add_row(f"{target}: -", *["-"] * len(names), end_section=True)
            table.caption = f"no {target} model: {reason}"
            continue
        by_name = {"model": block["model"], **block["baselines"]}
        keys = [k for k, v in block["model"].items() if not isinstance(v, dict) and k != "n"]
        for k, key in enumerate(keys):
            table.add_row(
                f"{target}.{key}",
                *[_fmt(by_name.get(n, {}).get(key)) for n in names],
                end_section=k == len(keys) - 1,
            )
    return table


# ---------------------------------------------------------------- batch scoring


@app.command("score")
def score_(
    out: Annotated[Path, typer.Option(help="Parquet file to write the scores to.")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Score as of YYYY-MM-DD (default: the serving date)."),
    ] = None,
) -> None:
    """Score every open invoice with the champion: p_default, days late p10/p50/p90, loss."""
    from features.export import write_table
    from serving.batch import load_state, open_invoice_scores

    settings = _settings()
    day = _parse_date(as_of, "--as-of") if as_of else None
    with _user_errors():
        state = load_state(settings, as_of=day)
        scores = open_invoice_scores(state)
        path = write_table(scores, out)
    console.print(
        f"as of {state.as_of}, model version {state.bundle.model_version}: "
        f"{len(scores):,} open invoices, open {scores['open_amount'].sum():,.2f}, "
        f"expected loss {scores['expected_loss'].sum():,.2f} -> {path}",
        highlight=False,
    )


@app.command("worklist")
def worklist_(
    top: Annotated[int, typer.Option(min=1, help="Customers to show.")] = 20,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Worklist of YYYY-MM-DD (default: the serving date)."),
    ] = None,
) -> None:
    """Print today's collections worklist: who to remind, call or escalate, and why."""
    from serving.batch import load_state
    from serving.scoring import worklist_page

    settings = _settings()
    day = _parse_date(as_of, "--as-of") if as_of else None
    with _user_errors():
        page = worklist_page(load_state(settings, as_of=day), limit=top)
    table = Table(
        title=f"Worklist {page.as_of}: {page.count} of {page.total} customers "
        f"(capacity {page.capacity}, model {page.model_version})"
    )
    for column in ("#", "customer", "grade", "next action", "overdue", "priority", "why"):
        table.add_column(column, justify="right" if column in ("overdue", "priority") else "left")
    for item in page.data:
        table.add_row(
            str(item.rank),
            f"{item.customer_id} {item.name or ''}".strip(),
            item.risk_grade,
            item.next_action,
            f"{item.overdue_amount:,.2f}",
            f"{item.priority:,.2f}",
            escape(item.reasons[0] if item.reasons else ""),
        )
    console.print(table)


# ---------------------------------------------------------------- serving


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the REST API and the worklist page (loads the champion bundle from models/)."""
    import os

    import uvicorn

    settings = _settings()
    # One LightGBM/OpenMP thread per worker: a one-row prediction on a pool of threads
    # costs milliseconds of hand-off; workers give the parallelism instead.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    console.print(
        f"duecast API on http://{host}:{port} ({workers} worker(s)), store "
        f"{settings.database_url.split('://')[0]}, models {settings.models_dir}"
    )
    with _prometheus_multiproc_dir(workers):
        uvicorn.run(
            "serving.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )


@contextmanager
def _prometheus_multiproc_dir(workers: int) -> Iterator[None]:
    """Prometheus multiprocess mode for several workers, so /metrics sums them all.

    The user's `PROMETHEUS_MULTIPROC_DIR` is kept (they empty it between runs); otherwise
    a fresh temporary folder is used and removed on exit.
    """
    import os
    import shutil
    import tempfile

    user_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if user_dir:
        if not Path(user_dir).is_dir():
            err_console.print(
                f"[bold red]error:[/] PROMETHEUS_MULTIPROC_DIR={user_dir} is not a directory"
            )
            raise typer.Exit(code=2)
        yield
        return
    if workers == 1:
        yield
        return
    # Set before uvicorn spawns the workers: each is a fresh interpreter, and
    # prometheus_client picks its mode when first imported there (never in this process).
    path = tempfile.mkdtemp(prefix="duecast-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- demo


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=10, help="Customers to generate.")] = 300,
    years: Annotated[float, typer.Option(min=1.0, help="Years of history.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API.")] = 8000,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after promotion instead of serving.")
    ] = False,
) -> None:
    """Generate, import, train, promote, then serve, on embedded defaults (DUECAST_HOME)."""
    from features.store import get_engine
    from serving.auth import create_api_key

    settings = _settings()
    data_dir = settings.home / "demo-data"
    steps = 5 if no_serve else 6
    console.print(f"[bold]1/{steps} generate[/] {customers} customers, {years:g} years")
    generate(
        customers=customers, out=data_dir, seed=seed, years=years, end_date=None, default_rate=None
    )
    console.print(f"[bold]2/{steps} import[/] into {settings.database_url}")
    import_(directory=data_dir, mapping=None)
    console.print(f"[bold]3/{steps} train[/] (MLflow store {settings.mlflow_tracking_uri})")
    train_(as_of=None)
    console.print(f"[bold]4/{steps} promote[/]")
    try:
        promote_(force=False)
    except typer.Exit:
        # A re-run on the same data may not beat the champion: the demo keeps serving it.
        console.print("The earlier champion stays; the demo goes on with it.")
    console.print(f"[bold]5/{steps} API key[/] for the demo (role admin)")
    with _user_errors():
        _, plaintext = create_api_key(get_engine(settings.database_url), role="admin", name="demo")
    console.print(f"X-API-Key: {plaintext}", highlight=False, soft_wrap=True)
    if no_serve:
        console.print("Done. Start the API with `duecast serve`.")
        return
    console.print(
        f"[bold]6/{steps} serve[/] worklist page http://127.0.0.1:{port}/worklist, "
        f"API docs http://127.0.0.1:{port}/docs (Ctrl-C stops)"
    )
    serve(host="127.0.0.1", port=port, workers=1)


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint=option) from exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
