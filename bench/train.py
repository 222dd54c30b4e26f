"""Benchmark: `duecast train`'s backtest on the table of a generated ~1,000,000-invoice history.

Target (issue 14): training — the table with open invoices (`include_open`, as
`training.pipeline.train` builds it), the rolling-origin backtest of every candidate
(LightGBM, LightGBM on a history offset, linear, history, the hazard model), pooling,
bootstrap and choice, and the refit of the served candidates on all history — on
10,000 customers x 3 years (about 1M invoices) in <= 180 s and <= 6 GB peak memory on
2 cores, with the default settings (tuning off). MLflow logging is not included (it
does not grow with the data: plots, JSON and the model files).

The ledger is generated once and written as Parquet; a child process reads it, builds
the table and trains; the child is measured as a whole, so its peak memory includes the
ledger and the table. The per-stage breakdown comes from timing wrappers the child puts
around training's functions (monkeypatched in the child only: training is unchanged).
A stage's time includes the stages nested under it; "peak" is the process's peak
resident memory when the stage ended, so the first stage that raises it holds the peak.

    python bench/train.py [--customers 10000] [--years 3] [--threads N]

Settings come from the environment as in training (DUECAST_BACKTEST_MAX_ROWS,
DUECAST_HAZARD_MAX_ROWS, DUECAST_BACKTEST_RESAMPLES, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(_BENCH))
from _measure import report, run_measured, write_generated_ledger  # noqa: E402

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

END = dt.date(2026, 6, 30)
AS_OF = END + dt.timedelta(days=1)

Label = Callable[[tuple, dict], str]


class StageClock:
    """Wall and CPU seconds per nested stage ("window 1/days lightgbm"), in first-seen order."""

    def __init__(self, on_stage: Callable[[], None] | None = None) -> None:
        self.stack: list[str] = []
        self.stages: dict[str, dict[str, float]] = {}
        self.on_stage = on_stage  # called when a top-level stage ends

    def wrap(self, module: Any, attr: str, label: str | Label) -> None:
        """Replace `module.attr` by a wrapper timing each call under `label`."""
        inner = getattr(module, attr)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            name = label if isinstance(label, str) else label(args, kwargs)
            self.stack.append(name)
            key = "/".join(self.stack)
            stage = self.stages.setdefault(key, {"seconds": 0.0, "cpu": 0.0, "calls": 0})
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                stage["seconds"] += time.perf_counter() - start
                stage["cpu"] += time.process_time() - cpu
                stage["calls"] += 1
                stage["peak_gib"] = _peak_gib()
                self.stack.pop()
                if not self.stack and self.on_stage is not None:
                    self.on_stage()

        setattr(module, attr, timed)


def _instrument(clock: StageClock) -> None:
    """Put timing wrappers around the stages of `training.backtest.run_backtest`."""
    from training import backtest, choice, refit, report, window_hazard

    clock.wrap(backtest, "feature_matrix", "feature matrix")
    clock.wrap(backtest, "plan_windows", "plan windows")
    clock.wrap(backtest, "_run_window", lambda a, k: f"window {a[2].index + 1}")
    clock.wrap(backtest, "window_rows", "sample rows")
    clock.wrap(backtest, "test_set", "test sets")
    clock.wrap(backtest, "fit_risk", lambda a, k: f"risk {a[0]}")
    clock.wrap(backtest, "fit_days", lambda a, k: f"days {a[0]}")
    clock.wrap(backtest, "hazard_window", "hazard")
    clock.wrap(window_hazard, "observed", "censoring")
    clock.wrap(window_hazard, "fit_hazard_model", "fit")
    # run_backtest imports these two when it runs: patching the modules reaches it.
    clock.wrap(report, "build_evaluation", "pool + bootstrap + choice")
    clock.wrap(report, "pool", "pool")
    clock.wrap(report, "choose", lambda a, k: f"choose {a[0]}")
    clock.wrap(choice, "paired_interval", "bootstrap")
    clock.wrap(refit, "refit_served", "refit")
    clock.wrap(refit, "_refit_hazard", "hazard")
    clock.wrap(refit, "fit_hazard_model", "fit")
    clock.wrap(refit, "fit_days", lambda a, k: f"days {a[0]}")
    clock.wrap(refit, "fit_risk", lambda a, k: f"risk {a[0]}")


class _OutOfTime(Exception):
    """The child's time budget (--budget) ran out."""


def _out_of_time(signum: int, _frame: object) -> None:
    raise _OutOfTime


def _child(data: Path, result: Path, budget: int | None) -> int:
    """Read the Parquet ledger, build the table with open invoices, run the backtest, write
    timings to `result` (also after each top-level stage, so a stopped run leaves them)."""
    import pandas as pd

    from features.build import build_training_table
    from features.ledger import ledger_from_frames
    from kernel.config import Settings
    from training.backtest import run_backtest

    settings = Settings()
    figures: dict[str, Any] = {"settings": {k: getattr(settings, k) for k in _SETTINGS}}
    clock = StageClock(on_stage=lambda: _write(result, figures, clock))
    _instrument(clock)
    if budget:
        signal.signal(signal.SIGALRM, _out_of_time)
        signal.alarm(budget)
    start = time.perf_counter()
    # A budget that runs out before the backtest stops the child with a traceback.
    frames = {p.stem: pd.read_parquet(p) for p in sorted(data.glob("*.parquet"))}
    ledger = ledger_from_frames(frames)
    read = time.perf_counter()
    table = build_training_table(
        ledger,
        as_of=AS_OF,
        horizon_days=settings.horizon_days,
        snapshot_every_days=settings.training_snapshot_every_days or None,
        very_late_days=settings.very_late_days,
        include_open=settings.train_hazard,
    )
    del frames, ledger
    built, cpu_built = time.perf_counter(), time.process_time()
    figures.update(
        read_seconds=read - start,
        table_seconds=built - read,
        table_peak_gib=_peak_gib(),
        rows=len(table),
        invoices=int(table["invoice_id"].nunique()),
    )
    _write(result, figures, clock)
    try:
        res = run_backtest(table, as_of=AS_OF, settings=settings)
    except _OutOfTime:
        figures["stopped_after"] = budget
        _write(result, figures, clock)
        return 3
    figures.update(
        train_seconds=time.perf_counter() - built,
        # CPU seconds of all threads: on a shared machine the wall time above also
        # counts waiting for the cores; this does not.
        train_cpu_seconds=time.process_time() - cpu_built,
        **_outcome(res),
    )
    _write(result, figures, clock)
    return 0


_SETTINGS = (
    "backtest_windows",
    "backtest_max_rows",
    "train_max_rows",
    "train_hazard",
    "hazard_max_rows",
    "backtest_resamples",
    "train_threads",
)


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _write(result: Path, figures: dict, clock: StageClock) -> None:
    figures.update(stages=clock.stages, peak_gib=_peak_gib())
    result.write_text(json.dumps(figures, default=str))


def _outcome(res: Any) -> dict[str, Any]:
    """Rows, trees and choices of a finished backtest (`training.backtest.BacktestResult`)."""
    ev = res.evaluation
    return {
        "window_train_rows": [w.train_rows for w in res.windows],
        "window_trees": [w.rounds for w in res.windows],
        "refit": res.params.get("refit"),
        "served": {q: c.served for q, c in res.choices.items()},
        "risk_target": res.risk_target,
        "roc_auc": ev.default.model.get("roc_auc") if ev.default else None,
        "mae": ev.days_late.model.get("mae"),
        "rows_by_fold": ev.rows,
    }


def _print_breakdown(figures: dict) -> None:
    """The stages as an indented tree: wall s, CPU s, calls, peak memory at the stage's end."""
    print(f"{'stage':<46} {'wall s':>8} {'cpu s':>8} {'calls':>5} {'peak GiB':>9}")
    if "table_seconds" in figures:
        print(
            f"{'read ledger':<46} {figures['read_seconds']:>8.1f}\n"
            f"{'table build (include_open)':<46} {figures['table_seconds']:>8.1f} "
            f"{'':>8} {'':>5} {figures['table_peak_gib']:>9.2f}"
        )
    for key, s in figures["stages"].items():
        depth = key.count("/")
        name = "  " * depth + key.rsplit("/", 1)[-1]
        print(
            f"{name:<46} {s['seconds']:>8.1f} {s['cpu']:>8.1f} {s['calls']:>5} "
            f"{s['peak_gib']:>9.2f}"
        )


def _print_models(figures: dict) -> None:
    """Rows, trees per model per window, the refit and the candidates served."""
    print(f"settings: {figures['settings']}")
    if "rows" in figures:
        print(f"table: {figures['rows']:,} rows ({figures['invoices']:,} invoices, with open ones)")
    if "served" not in figures:
        return
    print(f"rows: {figures['rows_by_fold']}")
    for k, (rows, trees) in enumerate(
        zip(figures["window_train_rows"], figures["window_trees"], strict=True)
    ):
        print(f"window {k + 1}: {rows:,} training rows, trees {trees}")
    print(f"refit: {figures['refit']}")
    print(
        f"served: {figures['served']} (risk target {figures['risk_target']}), "
        f"pooled test ROC AUC {figures['roc_auc']}, MAE {figures['mae']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="LightGBM threads (DUECAST_TRAIN_THREADS); 1 is faster on a busy shared machine, "
        "where OpenMP threads spin waiting for each other",
    )
    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        metavar="SECONDS",
        help="stop the training after this many seconds and print the stages done so far",
    )
    parser.add_argument("--child", type=Path, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data, result = args.child
        return _child(data, result, args.budget)

    with tempfile.TemporaryDirectory() as tmp:
        data, result = Path(tmp) / "data", Path(tmp) / "result.json"
        write_generated_ledger(data, customers=args.customers, years=args.years, end=END)
        command = [sys.executable, __file__, "--child", str(data), str(result)]
        if args.budget:
            command += ["--budget", str(args.budget)]
        env = {} if args.threads is None else {"DUECAST_TRAIN_THREADS": str(args.threads)}
        try:
            measured = run_measured(command, env=env)
        except SystemExit:
            # A child stopped by --budget wrote what it did so far; any other failure stands.
            if not result.exists() or "stopped_after" not in json.loads(result.read_text()):
                raise
            measured = None
        figures = json.loads(result.read_text())
    _print_models(figures)
    _print_breakdown(figures)
    if measured is None:
        print(
            f"STOPPED after the --budget of {figures['stopped_after']} s: the stages above are "
            f"those done (the last one partly); peak memory so far {figures['peak_gib']:.2f} GiB"
        )
        return 1
    total = figures["table_seconds"] + figures["train_seconds"]
    ok = report("training (table + backtest + refit)", total, 180, "s")
    print(
        f"  of which backtest + refit {figures['train_seconds']:.1f} s "
        f"(CPU time, all threads: {figures['train_cpu_seconds']:.1f} s)"
    )
    ok &= report("peak memory (ledger + table + models)", measured.peak_gib, 6, "GiB")
    print(f"child wall time (read + table + train): {measured.seconds:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
