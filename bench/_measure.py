"""Shared by the benchmarks: run a command as a child process and measure it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Measured", "duecast_bin", "report", "run_measured", "write_generated_ledger"]


@dataclass(frozen=True)
class Measured:
    """Wall seconds and peak resident memory (GiB) of one child process."""

    seconds: float
    peak_gib: float


def duecast_bin() -> str:
    """The `duecast` console script of the interpreter running the benchmark."""
    return str(Path(sys.executable).parent / "duecast")


def run_measured(args: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run `args`, fail loudly on a non-zero exit, return its time and peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args)}")
    return Measured(seconds=seconds, peak_gib=usage.ru_maxrss / 1024**2)


def report(label: str, value: float, target: float, unit: str) -> bool:
    """Print one figure next to its target; True when the target is met."""
    ok = value <= target
    verdict = "OK" if ok else "MISSED"
    print(f"{label:<40} {value:>9.2f} {unit:<4} target <= {target:g} {unit}  {verdict}")
    return ok


def write_generated_ledger(
    out: Path, *, customers: int, years: float, end: dt.date, seed: int = 1
) -> dict[str, int]:
    """Generate a ledger and write it as Parquet into `out`; returns rows per table."""
    from features.synthetic import generate_ledger, write_ledger

    started = time.perf_counter()
    frames = generate_ledger(customers=customers, seed=seed, years=years, end_date=end)
    write_ledger(frames, out, fmt="parquet")
    rows = {name: len(frame) for name, frame in frames.items()}
    print(f"generated {rows['invoices']:,} invoices in {time.perf_counter() - started:.1f} s")
    return rows
