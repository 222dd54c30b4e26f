"""Benchmark: how good the models are, per ledger profile, against the baselines.

Target (issue 14): on every profile the model beats the history baseline and the
logistic (risk) / linear (days late) baseline on its headline metric (ROC AUC, MAE) with
a paired bootstrap interval that excludes zero, or the evaluation says it does not and
serves the better baseline; the recalibrated p10-p90 interval covers 0.80 +/- 0.05 of
the test invoices.

For each profile a ledger is generated with a fixed seed (the size below), imported
into a fresh SQLite store in a temporary home, and `training.pipeline.train` runs on it
as `duecast train` does (rolling-origin backtest, choice per question, refit, MLflow
logging), timed as a whole. Printed per profile: every candidate's pooled test metrics,
the choice per question with its intervals, the training time and the targets. The
same goes, as Markdown with each profile's calibration and capture plots, to
`docs/model-quality.md` and `docs/model-quality/`.

Sizes are each profile's own (customers x years: default 300 x 3, about 29,000
invoices; thin 100 x 2, 2,700; many-counterparties 3,000 x 2, 19,000; instalments
400 x 3, 9,500), ledger end 2025-12-31, seed 1. The whole run took 17.5-25 minutes on 2
cores shared with other jobs (default 10-14 of them, in its three backtest windows; the
others 0.5-6 each); `--quick` runs tiny ledgers as a smoke test (its figures are noise).

    .venv/bin/python bench/model_quality.py [--profiles a,b] [--out FILE.md] [--quick] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

_BENCH = Path(__file__).resolve().parent
ROOT = _BENCH.parent
# Run as a script, bench/ comes first on sys.path, and bench/features.py would shadow the
# `features` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

END = dt.date(2025, 12, 31)
AS_OF = END + dt.timedelta(days=1)
SEED = 1
NOMINAL, COVERAGE_TOLERANCE = 0.80, 0.05
# Profile -> (customers, years): the full run, and --quick (a smoke run, figures are noise).
SIZES = {
    "default": (300, 3.0),
    "thin": (100, 2.0),
    "many-counterparties": (3000, 2.0),
    "instalments": (400, 3.0),
}
QUICK_SIZES = {
    "default": (60, 2.0),
    "thin": (60, 2.0),
    "many-counterparties": (600, 2.0),
    "instalments": (80, 2.0),
}
PLOTS, BASELINES = ("calibration", "capture"), ("history", "logistic", "linear")


@dataclass
class ProfileRun:
    """One profile's ledger size, evaluation JSON, training time, plots, or its traceback."""

    profile: str
    customers: int
    years: float
    invoices: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    phases: list[tuple[str, float]] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, Path] = field(default_factory=dict)
    error: str | None = None


def _settings(home: Path, mlflow_template: Path, threads: int) -> Any:
    from kernel.config import Settings

    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mlflow_template, home / "mlflow.db")
    return Settings(
        home=home,
        models_dir=home / "models",
        database_url="",
        mlflow_tracking_uri="",
        train_threads=threads,
    )


def _mlflow_template(folder: Path) -> Path:
    """An MLflow SQLite store with its tables made once (the migrations take ~10 s)."""
    from mlflow import MlflowClient

    path = folder / "mlflow-template.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


class _Clock:
    """The `on_progress` callback of `train`: seconds spent in each phase of the run."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.phases: list[tuple[str, float]] = []

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "backtest":
            last = f"window {total - 2} + choice"  # one step covers the last window and the choice
            label = {0: "table", total - 1: last, total: "refit"}.get(done, f"window {done}")
        elif stage == "logging to MLflow" and done == 0:
            label = "rest"  # between the backtest's end and the logging (plots, fingerprint)
        else:
            label = "MLflow" if stage == "logging to MLflow" else stage
        now = time.perf_counter()
        self.phases.append((label, now - self.last))
        self.last = now


def run_profile(
    profile: str, size: tuple[int, float], work: Path, template: Path, threads: int
) -> ProfileRun:
    """Generate, import and train one profile; the run's figures (or its traceback)."""
    from features.importing import import_directory
    from features.store import get_engine
    from features.synthetic import generate_ledger, write_ledger
    from training.pipeline import train
    from training.registry import run_artifact_uri

    customers, years = size
    run = ProfileRun(profile, customers, years)
    try:
        settings = _settings(work / "homes" / profile, template, threads)
        frames = generate_ledger(
            customers=customers, seed=SEED, years=years, end_date=END, profile=profile
        )
        run.invoices = len(frames["invoices"])
        data = settings.home / "ledger"
        write_ledger(frames, data)
        import_directory(get_engine(settings.database_url), data)
        print(f"[{profile}] {run.invoices:,} invoices imported; training ...", flush=True)
        clock, cpu = _Clock(), time.process_time()
        outcome = train(settings, as_of=AS_OF, today=AS_OF, on_progress=clock)
        run.seconds = time.perf_counter() - clock.start
        run.cpu_seconds, run.phases = time.process_time() - cpu, clock.phases
        run.evaluation = outcome.evaluation.to_json()
        plots = Path(unquote(urlparse(run_artifact_uri(settings, outcome.run_id)).path)) / "plots"
        run.plots = {k: plots / f"{k}.png" for k in PLOTS if (plots / f"{k}.png").exists()}
    except Exception:  # a crash is a finding: report it and go on with the next profile
        run.error = traceback.format_exc()
    return run


def _num(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _signed(value: Any) -> str:
    return "nan" if value is None else f"{value:+.4f}"


def candidate_rows(ev: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the candidate table: one row per model or baseline."""
    cands = ev.get("candidates") or {}
    risk, days = cands.get("risk") or {}, cands.get("days_late") or {}
    served = {q: c.get("served") for q, c in (ev.get("chosen") or {}).items()}
    recal = ev.get("interval_coverage_recalibrated") or {}
    target = ev.get("risk_target") or "no risk target"
    header = f"candidate|kind|ROC AUC ({target})|PR AUC|ECE|MAE days|p10-p90 cov.|recal. cov."
    rows = []
    for name in sorted({*risk, *days}, key=lambda n: (n in BASELINES, n)):
        r, d = risk.get(name, {}), days.get(name, {})
        kind = "baseline" if name in BASELINES else "model"
        risk_figures = map(_num, [r.get("roc_auc"), r.get("pr_auc"), r.get("ece")])
        coverage = map(_num, [d.get("interval_coverage"), recal.get(name)])
        serves = ", ".join(q for q, s in served.items() if s == name)
        rows.append([name, kind, *risk_figures, _num(d.get("mae"), 2), *coverage, serves])
    return [*header.split("|"), "served for"], rows


def choice_lines(ev: dict[str, Any]) -> list[str]:
    """One line per question (what is served and why), one per baseline interval."""
    chosen = ev.get("chosen") or {}
    lines = [] if "risk" in chosen else [f"risk: no model — {ev.get('default_unavailable_reason')}"]
    for question, choice in chosen.items():
        label = f"risk ({ev.get('risk_target')})" if question == "risk" else question
        lines.append(f"{label}: serves {choice['served']} — {choice['reason']}")
        for baseline, iv in (choice.get("intervals") or {}).items():
            verdict = "clear" if iv.get("excludes_zero") else "within noise"
            lines.append(
                f"    {choice['model']} - {baseline} ({choice['metric']}): "
                f"{_signed(iv.get('estimate'))} [{_signed(iv.get('low'))}, "
                f"{_signed(iv.get('high'))}] {verdict}"
            )
    return lines


def targets(ev: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """The issue's targets on this profile: (question, met, sentence)."""
    out = []
    for question, choice in (ev.get("chosen") or {}).items():
        intervals = choice.get("intervals") or {}
        beats = bool(intervals) and all(
            iv.get("excludes_zero") and iv.get("winner") == "a" for iv in intervals.values()
        )
        names = " and ".join(intervals) or "the baselines"
        sentence = f"{question}: model beats {names} with an interval excluding zero"
        out.append((question, beats, f"{sentence}: {_yes(beats)} (served: {choice['served']})"))
    served = (ev.get("chosen") or {}).get("days_late", {}).get("served")
    cov = (ev.get("interval_coverage_recalibrated") or {}).get(served)
    if cov is None:  # no recalibrated figure: judge the raw coverage of the served one
        days = (ev.get("candidates") or {}).get("days_late") or {}
        cov = days.get(served, {}).get("interval_coverage")
    ok = cov is not None and abs(cov - NOMINAL) <= COVERAGE_TOLERANCE
    sentence = f"days_late: p10-p90 coverage of {served} {_num(cov)} within {NOMINAL:.2f}"
    out.append(("coverage", ok, f"{sentence} +/- {COVERAGE_TOLERANCE:.2f}: {_yes(ok)}"))
    return out


def _timing(run: ProfileRun) -> str:
    phases = ", ".join(f"{label} {sec:.0f}" for label, sec in run.phases)
    return (
        f"training: {run.seconds:.1f} s wall, {run.cpu_seconds:.1f} s CPU all threads "
        f"(generate and import not included; phases in s: {phases})"
    )


def _size_line(run: ProfileRun) -> str:
    ev = run.evaluation
    rows = ev.get("rows") or {}
    return (
        f"{run.customers:,} customers x {run.years:g} years, {run.invoices:,} invoices; "
        f"{rows.get('windows', '?')} test windows, {rows.get('test_invoices', '?'):,} test "
        f"invoices ({rows.get('test_defaults', '?')} defaults), test period "
        f"{' to '.join(ev.get('test_period') or [])}"
        if rows
        else f"{run.customers:,} customers x {run.years:g} years, {run.invoices:,} invoices"
    )


def print_run(run: ProfileRun) -> None:
    """The text report of one profile."""
    print(f"\n== {run.profile}: {_size_line(run)}")
    if run.error:
        print(f"FAILED:\n{run.error}")
        return
    header, rows = candidate_rows(run.evaluation)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for cells in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(cells, widths, strict=True)).rstrip())
    print()
    for line in choice_lines(run.evaluation):
        print(line)
    print(_timing(run))
    print("targets:")
    for _, _, line in targets(run.evaluation):
        print(f"  {line}")


def _git(*args: str) -> str:
    try:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return run.stdout.strip()


INTRO = """# Model quality per ledger profile

Produced by `{command}` on {date} at commit `{commit}`{dirty}, on {threads} LightGBM
thread(s). The figures come from **generated ledgers shaped like real ones**
(`duecast generate --profile`, seed {seed}, history ending {end}), not from real company
data: they show how the pipeline behaves on each shape of book, not what it will score on
yours. Run `duecast evaluate` on your own ledger for that.

How to read it: every figure is pooled over the rolling-origin test windows of the
backtest (each window's models trained only on what was known at its cut-off). Per
question, "model" is the best model candidate; each line `model - baseline` gives the
difference of the headline metric (ROC AUC for risk: higher is better; MAE for days
late: lower is better, so a negative difference is a win) with its paired
bootstrap interval (95 %), resampled by customer. **clear** means the interval excludes zero;
**within noise** means the test windows cannot tell the two apart, and then the better
baseline is served. The risk target is `default` (unsettled by due + 90 days) or, when
defaults are too rare to learn, `very_late` (settled more than 30 days after due).
"p10-p90 cov." is the share of test invoices whose days late fell inside the predicted
interval (nominal 0.80); "recal." is that of the served model after the out-of-time
recalibration.
"""


def markdown(runs: list[ProfileRun], *, out: Path, command: str, threads: int) -> str:
    """The Markdown report; plot paths are made relative to `out`."""
    parts = [
        INTRO.format(
            command=command,
            date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
            commit=_git("rev-parse", "--short", "HEAD") or "unknown",
            dirty=" (with uncommitted changes)" if _git("status", "--porcelain", "-uno") else "",
            threads=threads,
            seed=SEED,
            end=END.isoformat(),
        )
    ]
    parts.append(
        "| profile | risk: model clearly beats every baseline | days late: same | "
        "p10-p90 coverage 0.80 +/- 0.05 | training s (wall) |\n|---|---|---|---|---|"
    )
    for run in runs:
        if run.error:
            parts.append(f"| {run.profile} | crashed | crashed | — | — |")
            continue
        met = {q: _yes(ok) for q, ok, _ in targets(run.evaluation)}
        served = {q: c["served"] for q, c in (run.evaluation.get("chosen") or {}).items()}
        cells = [
            f"{met[q]} (serves {served[q]})" if q in met else "no risk model"
            for q in ("risk", "days_late")
        ]
        parts.append(
            f"| {run.profile} | {' | '.join(cells)} | {met['coverage']} | {run.seconds:.0f} |"
        )
    for run in runs:
        parts.append(f"\n## {run.profile}\n\n{_size_line(run)}.\n")
        if run.error:
            parts.append(f"Training crashed:\n\n```\n{run.error}```\n")
            continue
        header, rows = candidate_rows(run.evaluation)
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "---|" * len(header))
        parts.extend("| " + " | ".join(row) + " |" for row in rows)
        parts.append("")
        parts.extend(
            f"  - `{line.strip()}`" if line.startswith(" ") else f"- {line}"
            for line in choice_lines(run.evaluation)
        )
        parts.append(f"- {_timing(run)}")
        parts.extend(f"- target, {line}" for _, _, line in targets(run.evaluation))
        parts.append("")
        if not run.plots:
            parts.append(
                "No calibration or capture plot: they show the risk model, and none was fit."
            )
        for kind, path in sorted(run.plots.items()):
            parts.append(f"![{run.profile} {kind}]({path.relative_to(out.parent).as_posix()})")
    return "\n".join(parts) + "\n"


def _copy_plots(run: ProfileRun, folder: Path) -> None:
    """Copy the run's plots to `folder/<profile>-<kind>.png` and point the run at them."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, src in list(run.plots.items()):
        run.plots[kind] = Path(shutil.copyfile(src, folder / f"{run.profile}-{kind}.png"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default=",".join(SIZES), help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "model-quality.md")
    parser.add_argument("--quick", action="store_true", help="tiny ledgers: a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="LightGBM threads")
    args = parser.parse_args()
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = sorted(set(profiles) - set(SIZES))
    if unknown:
        parser.error(f"unknown profile(s) {unknown}: pick from {', '.join(SIZES)}")
    sizes = QUICK_SIZES if args.quick else SIZES
    # MLflow and the pipeline log every step; the bench prints its own summary.
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TQDM_DISABLE", "1")  # MLflow's artifact progress bars

    out = args.out.resolve()
    command = " ".join(["python bench/model_quality.py", *sys.argv[1:]])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="duecast-model-quality-") as tmp:
        template = _mlflow_template(Path(tmp))
        runs: list[ProfileRun] = []
        for profile in profiles:
            runs.append(run_profile(profile, sizes[profile], Path(tmp), template, args.threads))
            # Printed and written as each profile ends: a long run shows results early,
            # and one stopped half-way still leaves the profiles it finished.
            print_run(runs[-1])
            _copy_plots(runs[-1], out.parent / out.stem)
            out.write_text(markdown(runs, out=out, command=command, threads=args.threads))
    print(f"\nwrote {out} ({time.perf_counter() - started:.0f} s in all)")
    return 1 if any(run.error for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
