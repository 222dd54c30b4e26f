"""Model commands: `train` (backtest, register a challenger), `evaluate`, `promote`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from duecast.cli._common import (
    console,
    err_console,
    load_settings,
    parse_date,
    progress_bars,
    user_errors,
)

if TYPE_CHECKING:
    from training.evaluation import Evaluation

__all__ = ["evaluate_", "evaluation_table", "promote_", "train_"]


def train_(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Cut date YYYY-MM-DD: train on what was known before it "
            "(default: the day after the store's last event dated on or before today; "
            "later rows are left out with a warning).",
        ),
    ] = None,
) -> None:
    """Train and backtest models and baselines, log to MLflow, register a challenger."""
    from training.pipeline import train

    settings = load_settings()
    cut = parse_date(as_of, "--as-of") if as_of else None
    with user_errors(), progress_bars() as progress:
        outcome = train(settings, as_of=cut, on_progress=progress)
    for warning in outcome.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if outcome.default_unavailable_reason:
        err_console.print(
            f"[yellow]no default model:[/] {escape(outcome.default_unavailable_reason)}",
            highlight=False,
        )
    console.print(evaluation_table(outcome.evaluation))
    console.print(
        f"Registered {settings.mlflow_model_name} version {outcome.version} as challenger "
        f"(run {outcome.run_id}). Next: `duecast evaluate`, then `duecast promote`."
    )


def evaluate_(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Backtest metrics of the challenger (or champion) against the baselines, same test period."""
    import json

    from training.pipeline import evaluate

    settings = load_settings()
    with user_errors():
        evaluation = evaluate(settings)
    if as_json:
        typer.echo(json.dumps(evaluation.to_json(), indent=2))
        return
    console.print(evaluation_table(evaluation))
    console.print(f"Plots: {evaluation.plots}", highlight=False, soft_wrap=True)


def promote_(
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the challenger is worse.")
    ] = False,
) -> None:
    """Make the challenger the champion if it is not worse, and export it for serving."""
    from training.pipeline import promote

    settings = load_settings()
    with user_errors():
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


def evaluation_table(evaluation: Evaluation) -> Table:
    """The backtest as a table: one column per model / baseline, one row per metric."""
    from training.evaluation import TARGETS

    start, end = evaluation.test_period
    table = Table(title=f"Test period {start} .. {end} (version {evaluation.model_version})")
    table.add_column("metric")
    targets = {name: evaluation.target(name) for name in TARGETS}
    names = list(dict.fromkeys(n for t in targets.values() if t is not None for n in t.by_name()))
    for name in names:
        table.add_column(name, justify="right")
    for target, block in targets.items():
        if block is None:
            reason = evaluation.unavailable_reason(target) or "not trained"
            table.add_row(f"{target}: -", *["-"] * len(names), end_section=True)
            table.caption = f"no {target} model: {reason}"
            continue
        by_name = block.by_name()
        keys = [k for k, v in block.model.items() if not isinstance(v, dict) and k != "n"]
        for k, key in enumerate(keys):
            table.add_row(
                f"{target}.{key}",
                *[_fmt(by_name.get(n, {}).get(key)) for n in names],
                end_section=k == len(keys) - 1,
            )
    return table
