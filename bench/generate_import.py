"""Benchmark: generate a 1,000,000-invoice ledger, then import it into SQLite.

Targets (issue 2): generate <= 30 s, import into SQLite <= 120 s, peak memory <= 4 GB
for each step. Both steps run as the real `duecast` commands in child processes.

With `--line-items` (issue 12) the generated ledger (3,000 customers by default, about
300,000 invoices) is rewritten as an invoicing tool's line-item export (`line_items.py`:
about 1,000,000 lines, money written "$1,020.00", day-first dates, no customers or
payments file) and imported with its mapping: target <= 120 s and <= 4 GB.

    python bench/generate_import.py [--customers 10000] [--years 3] [--keep DIR]
    python bench/generate_import.py --line-items [--customers 3000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import duecast_bin, report, run_measured
from line_items import write_line_items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, help="default 10,000 (3,000 with --line-items)")
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    parser.add_argument(
        "--line-items", action="store_true", help="import a line-item export instead"
    )
    args = parser.parse_args()
    if args.customers is None:
        args.customers = 3_000 if args.line_items else 10_000
    if args.line_items:
        return _line_items(args)

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


def _line_items(args: argparse.Namespace) -> int:
    """Generate, rewrite as a line-item export, import with its mapping; report."""
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        data, export, home = work / "data", work / "export", work / "home"
        env = {"DUECAST_HOME": str(home)}
        generate = [duecast_bin(), "generate", "--customers", str(args.customers)]
        generate += ["--out", str(data), "--years", str(args.years), "--seed", "1"]
        run_measured([*generate, "--end-date", "2026-06-30"], env)
        lines = write_line_items(data, export)
        invoices = len(pd.read_csv(data / "invoices.csv", usecols=["invoice_id"]))
        (home / "duecast.db").unlink(missing_ok=True)
        command = [duecast_bin(), "import", str(export), "--mapping", str(export / "mapping.toml")]
        imp = run_measured(command, env)
    print(f"line-item export: {lines:,} lines of {invoices:,} invoices")
    ok = all(
        [
            report("import line items into SQLite (seconds)", imp.seconds, 120, "s"),
            report("import peak memory", imp.peak_gib, 4, "GiB"),
        ]
    )
    print(f"import throughput: {lines / imp.seconds:,.0f} lines/s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
