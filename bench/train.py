"""Benchmark: train both models on the table of a generated ~1,000,000-invoice history.

Target (issue 4): the backtest of `duecast train` — default classifier with
calibration, days-late regressor and its p10/p50/p90 quantile models, baselines and
metrics — on the training table of 10,000 customers x 3 years (about 1M invoices) in
<= 180 s and <= 6 GB peak memory on 2 cores. MLflow logging is not included (it does
not grow with the data: plots, JSON and the model files).

The ledger is generated once and written as Parquet; a child process reads it, builds
the table (timed separately, see bench/features.py) and trains; the child is measured
as a whole, so its peak memory includes the ledger and the table.

    python bench/train.py [--customers 10000] [--years 3] [--snapshot-every DAYS] [--threads N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(_BENCH))
from _measure import report, run_measured, write_generated_ledger  # noqa: E402

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

END = dt.date(2026, 6, 30)
AS_OF = END + dt.timedelta(days=1)


def _child(data: Path, result: Path, snapshot_every: int | None) -> None:
    """Read the Parquet ledger, build the training table, train, write timings to `result`."""
    import pandas as pd

    from features.build import build_training_table
    from features.ledger import ledger_from_frames
    from kernel.config import Settings
    from training.backtest import run_backtest

    settings = Settings()
    if snapshot_every is not None:
        settings = settings.model_copy(update={"training_snapshot_every_days": snapshot_every})
    every = settings.training_snapshot_every_days or None
    start = time.perf_counter()
    frames = {p.stem: pd.read_parquet(p) for p in sorted(data.glob("*.parquet"))}
    ledger = ledger_from_frames(frames)
    table = build_training_table(
        ledger, as_of=AS_OF, horizon_days=settings.horizon_days, snapshot_every_days=every
    )
    del frames, ledger
    built, cpu_built = time.perf_counter(), time.process_time()
    result_ = run_backtest(table, as_of=AS_OF, settings=settings)
    trained, cpu_trained = time.perf_counter(), time.process_time()
    ev = result_.evaluation
    result.write_text(
        json.dumps(
            {
                "table_seconds": built - start,
                "train_seconds": trained - built,
                # CPU seconds of all threads: on a shared machine the wall time above
                # also counts waiting for the cores; this does not.
                "train_cpu_seconds": cpu_trained - cpu_built,
                "rows": len(table),
                "invoices": int(table["invoice_id"].nunique()),
                "trees": result_.params["trees"],
                "calibration": ev.calibration,
                "roc_auc": ev.default.model["roc_auc"] if ev.default else None,
                "mae": ev.days_late.model["mae"],
                "rows_by_fold": ev.rows,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--snapshot-every", type=int, default=None, metavar="DAYS")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="LightGBM threads (DUECAST_TRAIN_THREADS); 1 is faster on a busy shared machine, "
        "where OpenMP threads spin waiting for each other",
    )
    parser.add_argument("--child", type=Path, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.snapshot_every)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        data, result = Path(tmp) / "data", Path(tmp) / "result.json"
        write_generated_ledger(data, customers=args.customers, years=args.years, end=END)
        command = [sys.executable, __file__, "--child", str(data), str(result)]
        if args.snapshot_every is not None:
            command += ["--snapshot-every", str(args.snapshot_every)]
        env = {} if args.threads is None else {"DUECAST_TRAIN_THREADS": str(args.threads)}
        measured = run_measured(command, env=env)
        figures = json.loads(result.read_text())
    print(
        f"table: {figures['rows']:,} rows ({figures['invoices']:,} invoices with a known outcome) "
        f"built in {figures['table_seconds']:.1f} s"
    )
    print(f"folds: {figures['rows_by_fold']}")
    print(
        f"trees: {figures['trees']}, calibration {figures['calibration']}, "
        f"test ROC AUC {figures['roc_auc']}, MAE {figures['mae']}"
    )
    ok = report("train both models (backtest)", figures["train_seconds"], 180, "s")
    print(f"  (CPU time of the training, all threads: {figures['train_cpu_seconds']:.1f} s)")
    ok &= report("peak memory (ledger + table + models)", measured.peak_gib, 6, "GiB")
    print(f"child wall time (read + table + train): {measured.seconds:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
