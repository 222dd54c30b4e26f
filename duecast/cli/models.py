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

__all__ = ["choice_lines", "evaluate_", "evaluation_table", "promote_", "train_"]


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
    tune: Annotated[
        bool,
        typer.Option(
            "--tune",
            help="Search LightGBM's parameters first (Optuna, on the latest window's own "
            "rows); needs --trials or --minutes. Each trial is an MLflow child run.",
        ),
    ] = False,
    trials: Annotated[
        int | None, typer.Option("--trials", min=1, help="Tuning: at most N trials.")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option("--minutes", min=0.1, help="Tuning: at most M minutes.")
    ] = None,
) -> None:
    """Train and backtest models and baselines, log to MLflow, register a challenger."""
    from training.pipeline import train
    from training.tune_run import TuneBudget

    settings = load_settings()
    cut = parse_date(as_of, "--as-of") if as_of else None
    if (trials is not None or minutes is not None) and not tune:
        raise typer.BadParameter("--trials and --minutes set the budget of --tune: add --tune")
    if tune and trials is None and minutes is None:
        raise typer.BadParameter("--tune needs a budget: --trials N or --minutes M")
    budget = TuneBudget(trials, minutes) if tune else None
    with user_errors(), progress_bars() as progress:
        outcome = train(settings, as_of=cut, on_progress=progress, tune=budget)
    for warning in outcome.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if outcome.default_unavailable_reason:
        err_console.print(
            f"[yellow]no default model:[/] {escape(outcome.default_unavailable_reason)}",
            highlight=False,
        )
    console.print(evaluation_table(outcome.evaluation))
    for line in choice_lines(outcome.evaluation):
        console.print(escape(line), highlight=False, soft_wrap=True)
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
    for line in choice_lines(evaluation):
        console.print(escape(line), highlight=False, soft_wrap=True)
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
    """The backtest as a table: one column per model / baseline, one row per metric.

    Figures are over the pooled test windows; `choice_lines` says what is served and why.
    """
    from training.evaluation import TARGETS

    start, end = evaluation.test_period
    windows = len(evaluation.extra.get("windows") or []) or 1
    table = Table(
        title=f"{windows} test window(s) {start} .. {end}, pooled "
        f"(version {evaluation.model_version})"
    )
    table.add_column("metric")
    targets = {name: evaluation.target(name) for name in TARGETS}
    if targets["very_late"] is not None or evaluation.default is not None:
        # One risk block: the default model's, or the very-late model's when defaults are rare.
        targets = {k: v for k, v in targets.items() if v is not None or k == "days_late"}
    else:
        targets.pop("very_late")
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


def choice_lines(evaluation: Evaluation) -> list[str]:
    """Per question: the candidate served, why, and the model-minus-baseline intervals."""
    lines = []
    for question, choice in (evaluation.extra.get("chosen") or {}).items():
        label = "days late" if question == "days_late" else f"risk ({evaluation.risk_target})"
        lines.append(f"{label}: serves {choice['served']}: {choice['reason']}")
        for baseline, iv in choice["intervals"].items():
            if iv.get("low") is None:
                lines.append(f"  {choice['model']} - {baseline}: undefined ({iv.get('note')})")
                continue
            verdict = "clear" if iv["excludes_zero"] else "within noise"
            lines.append(
                f"  {choice['model']} - {baseline} {choice['metric']}: {iv['estimate']:+.4f} "
                f"[{iv['low']:+.4f}, {iv['high']:+.4f}] ({verdict})"
            )
    return lines
