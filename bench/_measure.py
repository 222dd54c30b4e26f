"""Shared by the benchmarks: run a command as a child process and measure it."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Measured",
    "child_pids",
    "create_key",
    "duecast_bin",
    "free_port",
    "prepare_store",
    "report",
    "rss_kib",
    "run_measured",
    "stop_server",
    "wait_ready",
    "write_generated_ledger",
]


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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_store(
    work: Path,
    customers: int,
    years: float,
    env: dict[str, str],
    models: Path,
    *,
    end: str,
    as_of: str,
) -> None:
    """Generate + import a ledger into `work`, then train + promote into `models`.

    Each step is skipped when its result is already there (a store, a champion bundle),
    so a kept work folder is set up once.
    """
    data, db = work / "data", work / "home" / "duecast.db"
    if not db.exists():
        print(f"generate + import {customers:,} customers, {years:g} years ...", flush=True)
        gen = run_measured(
            [
                duecast_bin(),
                "generate",
                "--customers",
                str(customers),
                "--years",
                str(years),
                "--out",
                str(data),
                "--seed",
                "1",
                "--end-date",
                end,
            ],
            env,
        )
        imp = run_measured([duecast_bin(), "import", str(data)], env)
        print(f"  generate {gen.seconds:.0f} s, import {imp.seconds:.0f} s", flush=True)
    if not (models / "champion").exists():
        print("train + promote ...", flush=True)
        tr = run_measured([duecast_bin(), "train", "--as-of", as_of], env)
        pr = run_measured([duecast_bin(), "promote", "--force"], env)
        print(f"  train {tr.seconds:.0f} s, promote {pr.seconds:.0f} s", flush=True)


def create_key(env: dict[str, str], role: str = "admin", name: str = "bench") -> str:
    """A new API key of `role`, made with `duecast apikey create`; returns the plaintext."""
    out = subprocess.run(
        [duecast_bin(), "apikey", "create", "--role", role, "--name", name],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def wait_ready(base: str, process: subprocess.Popen, timeout: float) -> float:
    """Poll `base`/readyz until 200; seconds waited. Exits if the server dies or times out.

    With several workers `duecast serve` listens only once every worker has built its
    state: measured from the first worker's readiness, that worker took the whole load
    while the others still built their state on the same cores.
    """
    import httpx  # only the server benchmarks need it

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise SystemExit("duecast serve exited before it was ready")
        try:
            ready = httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            ready = False
        if ready:
            return time.monotonic() - start
        time.sleep(0.5)
    raise SystemExit(f"duecast serve not ready after {timeout:.0f} s")


def child_pids(pid: int) -> list[int]:
    """Direct children of process `pid`, from /proc (Linux; no psutil needed)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children += [int(c) for c in task.read_text().split()]
        except OSError:  # the thread or the process ended meanwhile
            continue
    return sorted(set(children))


def rss_kib(pid: int) -> int | None:
    """Resident memory (VmRSS, KiB) of process `pid`, or None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def stop_server(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the server (uvicorn stops its workers), SIGKILL if it is still up after `timeout`.

    Children still alive afterwards (workers orphaned by a SIGKILL of the supervisor)
    are killed too, so no benchmark leaves a server behind.
    """
    children = {pid: _cmdline(pid) for pid in child_pids(process.pid)}
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid, cmdline in children.items():
        # Only the very process seen before (same command line), never a reused pid.
        if cmdline is not None and _cmdline(pid) == cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def stop_on_sigterm() -> None:
    """Make SIGTERM (a `timeout`, a cancelled job) end the run through its `finally`
    blocks, which stop the server, instead of orphaning it."""
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
