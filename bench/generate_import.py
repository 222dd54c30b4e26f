"""Benchmark: generate a 1,000,000-invoice ledger, then import it into SQLite.

Targets (issue 2): generate <= 30 s, import into SQLite <= 120 s, peak memory <= 4 GB
for each step. Both steps run as the real `duecast` commands in child processes.

    python bench/generate_import.py [--customers 10000] [--years 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import duecast_bin, report, run_measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        data, home = work / "data", work / "home"
        env = {"DUECAST_HOME": str(home)}
        gen = run_measured(
            [
                duecast_bin(),
                "generate",
                "--customers",
                str(args.customers),
                "--out",
                str(data),
                "--years",
                str(args.years),
                "--seed",
                "1",
                "--end-date",
                "2026-06-30",
            ],
            env,
        )
        invoices = len(pd.read_csv(data / "invoices.csv", usecols=["invoice_id"]))
        payments = len(pd.read_csv(data / "payments.csv", usecols=["payment_id"]))
        (home / "duecast.db").unlink(missing_ok=True)
        imp = run_measured([duecast_bin(), "import", str(data)], env)

    print(f"ledger: {args.customers:,} customers, {invoices:,} invoices, {payments:,} payments")
    ok = all(
        [
            report("generate (seconds)", gen.seconds, 30, "s"),
            report("generate peak memory", gen.peak_gib, 4, "GiB"),
            report("import into SQLite (seconds)", imp.seconds, 120, "s"),
            report("import peak memory", imp.peak_gib, 4, "GiB"),
        ]
    )
    print(
        f"generate throughput: {invoices / gen.seconds:,.0f} invoices/s; "
        f"import throughput: {(invoices + payments) / imp.seconds:,.0f} invoice+payment rows/s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
