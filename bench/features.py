"""Benchmark: build the training table of a generated ~1,000,000-invoice history.

Target (issue 3): `features.build.build_training_table` as of a date near the end of a
3-year history of 10,000 customers (about 1M invoices) in <= 60 s and <= 4 GB peak
memory. The ledger is generated once and written as Parquet; a child process then
reads it, builds the `Ledger` and the table, and is measured as a whole (peak memory
includes the ledger, which the build needs anyway). The build's own seconds are
reported beside the child's wall time.

    python bench/features.py [--customers 10000] [--years 3] [--snapshot-every DAYS]
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

# This file is named like the `features` package: take its folder off the import path
# (Python put it first) so that `import features...` finds the package, not this file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

END = dt.date(2026, 6, 30)
# Near the end, so almost the whole history is in the table; the last weeks' invoices
# are still open (not mature) and drop out, as in real use.
AS_OF = END - dt.timedelta(days=5)


def _child(data: Path, result: Path, snapshot_every: int | None) -> None:
    """Read the Parquet ledger, build the training table, write timings to `result`."""
    import pandas as pd

    from features.build import build_training_table
    from features.ledger import ledger_from_frames

    start = time.perf_counter()
    frames = {p.stem: pd.read_parquet(p) for p in sorted(data.glob("*.parquet"))}
    ledger = ledger_from_frames(frames)
    loaded = time.perf_counter()
    table = build_training_table(ledger, as_of=AS_OF, snapshot_every_days=snapshot_every)
    built = time.perf_counter()
    result.write_text(
        json.dumps(
            {
                "load_seconds": loaded - start,
                "build_seconds": built - loaded,
                "invoices": len(ledger.invoices),
                "payments": len(ledger.payments),
                "rows": len(table),
                "columns": table.shape[1],
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--snapshot-every", type=int, default=None, metavar="DAYS")
    parser.add_argument("--child", type=Path, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.snapshot_every)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        data, result = Path(tmp) / "data", Path(tmp) / "result.json"
        write_generated_ledger(data, customers=args.customers, years=args.years, end=END)
        child = [sys.executable, __file__, "--child", str(data), str(result)]
        if args.snapshot_every:
            child += ["--snapshot-every", str(args.snapshot_every)]
        measured = run_measured(child)
        figures = json.loads(result.read_text())

    snapshots = f"every {args.snapshot_every} days" if args.snapshot_every else "issue date only"
    print(
        f"ledger: {args.customers:,} customers, {figures['invoices']:,} invoices, "
        f"{figures['payments']:,} payments; as of {AS_OF}, snapshots: {snapshots}"
    )
    print(f"training table: {figures['rows']:,} rows x {figures['columns']} columns")
    print(f"{'read Parquet + ledger_from_frames (seconds)':<40} {figures['load_seconds']:>9.2f} s")
    ok = all(
        [
            report("build_training_table (seconds)", figures["build_seconds"], 60, "s"),
            report("child process wall time (seconds)", measured.seconds, 60, "s"),
            report("peak memory of the child", measured.peak_gib, 4, "GiB"),
        ]
    )
    print(f"throughput: {figures['invoices'] / figures['build_seconds']:,.0f} invoices/s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
