"""Benchmark: order decisions and worklist pages against a real `duecast serve`.

Targets (issue 5), on a store of 10,000 customers / ~1,000,000 invoices, with
`duecast serve --workers 2` on loopback and this load generator on the same machine:

- order decision: p99 <= 10 ms and >= 1,000 requests/s at 16 concurrent connections;
- worklist page of 50: <= 100 ms (p99, one reader while no other load runs).

Two order-decision runs, both over 16 keep-alive connections:

- the bounded load: 1,000 requests/s (`--rate`) offered on a fixed schedule, as order
  systems send them, for 60 s (`--seconds`); p50/p99 latency count from each request's
  scheduled time. This is the p99 <= 10 ms target at >= 1,000 requests/s. The p99 of
  each 10-s window is printed too, and how late requests were sent (a connection sends
  only after its previous answer, so a slow answer delays the next send; so does the
  generator waiting for a core: either counts in the latency, as a waiting order would),
  the cores each worker used (connections are dealt to the workers in turn: 8 each) and
  the generator used, and the host's state: the CPU time the hypervisor gave to other
  guests (steal) and a fixed Python loop's time (the same code has measured ~60 % apart
  on this kind of VM, so compare runs by it).
- capacity: each connection sends its next request as soon as it has an answer (closed
  loop), which gives the most requests/s the server answers. Its latency is printed
  but is not a target: with 16 requests always in flight it is queueing, 16 / throughput
  on average (2,000 requests/s means 8 ms however fast each answer is computed). The
  bounded load sends with one key, as an order system would; the capacity run shares 4
  keys among its connections, because one key may send 2,000 requests/s per worker
  (`DUECAST_API_RATE_LIMIT_PER_SECOND`), a policy that a fast host's capacity passes.
  Errors are counted by status: any fails the run.

The load starts once `duecast serve` listens, which it does once every worker has built
its state: measured from the first worker's readiness, one worker took all 16
connections while the other was still building its state on the same cores.

Set-up, skipped when the work folder already holds it (`--work DIR` keeps it between
runs): `duecast generate` + `duecast import` into SQLite, `duecast train` +
`duecast promote` into DIR/models.

    python bench/api.py [--work DIR] [--customers 10000] [--seconds 60] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import (
    child_pids,
    create_key,
    duecast_bin,
    free_port,
    prepare_store,
    report,
    stop_on_sigterm,
    stop_server,
    wait_ready,
)

END = "2026-06-30"
AS_OF = "2026-07-01"  # the day after the history: every event is known
CAPACITY_KEYS = 4  # the capacity run's keys, shared by its connections in turn


def _order_request(rng: random.Random, customers: list[str], key: str) -> bytes:
    body = json.dumps(
        {"customer_id": rng.choice(customers), "amount": round(rng.uniform(100, 20_000), 2)}
    ).encode()
    return (
        b"POST /v1/orders/decision HTTP/1.1\r\nHost: bench\r\n"
        + f"X-API-Key: {key}\r\nContent-Type: application/json\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@dataclass(frozen=True)
class Load:
    """What one order-decision run measured (latencies and lateness in seconds)."""

    latencies: np.ndarray  # of requests scheduled after the warm-up
    scheduled: np.ndarray  # each one's scheduled time, from the start of the window
    late_sends: np.ndarray  # how late each one was sent (see `_order_load`)
    errors: Counter[int]  # non-200 answers by status
    answered_per_s: float  # answers completed inside the measured window


async def _order_load(
    port: int,
    keys: Sequence[str],
    customers: list[str],
    *,
    connections: int,
    seconds: float,
    warmup: float,
    rate: float | None,
) -> Load:
    """Order decisions over `connections` keep-alive HTTP/1.1 connections.

    With `rate` (requests/s over all connections) each connection sends on a fixed
    schedule and a request's latency counts from its scheduled time, so a slow answer
    also charges the requests it delayed (no coordinated omission). Without `rate`, each
    connection sends its next request as soon as the previous answer arrives (closed
    loop: the server's capacity, and latency set by the queue of `connections`).

    Bare asyncio streams, not an HTTP client library: httpx's async pool costs more CPU
    per request than the server's order decision on this 2-core machine (measured:
    /healthz at 16 connections, ~90 req/s through httpx against ~2,000 req/s this way).

    Connection k sends with key k % len(keys).

    How late each request was sent (after its scheduled time: its connection still
    waited for the previous answer, or this process for a core) is recorded apart; it
    counts in the latency, as it would for an order system whose request waits.
    """
    latencies: list[float] = []
    scheduled: list[float] = []
    late: list[float] = []
    errors: Counter[int] = Counter()
    in_window = 0
    start = time.perf_counter() + 0.5
    measure_from = start + warmup
    stop = measure_from + seconds
    interval = None if rate is None else connections / rate

    async def connection(seed: int) -> None:
        nonlocal in_window
        rng = random.Random(seed)
        key = keys[seed % len(keys)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # Connections start spread over one interval, not all at once.
        due = start + (0 if interval is None else interval * seed / connections)
        try:
            while due < stop:
                now = time.perf_counter()
                if now < due:
                    await asyncio.sleep(due - now)
                sent = due if interval is not None else time.perf_counter()
                lateness = time.perf_counter() - sent
                writer.write(_order_request(rng, customers, key))
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                done = time.perf_counter()
                in_window += measure_from <= done < stop
                if sent >= measure_from:
                    latencies.append(done - sent)
                    scheduled.append(sent - measure_from)
                    late.append(lateness)
                    if status != 200:
                        errors[status] += 1
                due = due + interval if interval is not None else done
        finally:
            writer.close()

    await asyncio.gather(*(connection(k) for k in range(connections)))
    return Load(
        np.array(latencies), np.array(scheduled), np.array(late), errors, in_window / seconds
    )


def _run_load(coroutine: Coroutine[Any, Any, Load]) -> Load:
    # uvloop when installed (uvicorn[standard] brings it): the generator shares the two
    # cores with the workers, and its own event loop costs less CPU per request.
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _reservations(work: Path, *, clear: bool = False) -> int:
    """How many order reservations the work store holds (deleted first with `clear`).

    The serving date is pinned, so reservations never expire between runs: left in
    place, each run would approve fewer orders (fewer store writes) than the last.
    """
    # closing(): a sqlite3 connection's own `with` commits but does not close it.
    with contextlib.closing(sqlite3.connect(work / "home" / "duecast.db")) as conn, conn:
        count = conn.execute("SELECT count(*) FROM order_reservations").fetchone()[0]
        if clear:
            conn.execute("DELETE FROM order_reservations")
    return int(count)


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process so far (Linux, from /proc)."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _cpu_times() -> tuple[int, int]:
    """(steal, total) clock ticks of the whole machine so far (Linux, from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])  # user nice system idle iowait irq softirq steal


def _reference_ms() -> float:
    """Milliseconds of a fixed pure-Python loop (best of 5): the host's speed, to compare
    runs by (the same code has measured ~60 % apart on this kind of VM)."""
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        sum(range(1_000_000))
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def _report_bounded(load: Load, rate: float, connections: int, seconds: float) -> bool:
    """Print the bounded load's figures next to their targets; True when all are met."""
    p50, p99 = (float(np.percentile(load.latencies, q)) * 1e3 for q in (50, 99))
    print(
        f"bounded load: {rate:,.0f} order decisions/s offered over {connections} "
        f"connections for {seconds:.0f} s: {load.answered_per_s:,.0f} answered/s, "
        f"{_errors(load.errors)}"
    )
    ok = report("order decision p50 (ms, bounded load)", p50, 10, "ms")
    ok &= report("order decision p99 (ms, bounded load)", p99, 10, "ms")
    ok &= load.answered_per_s >= 0.99 * rate  # the server kept up with the offered rate
    # Every window shown, so that one bad stretch is seen rather than averaged away.
    windows = [
        float(np.percentile(load.latencies[(load.scheduled >= t) & (load.scheduled < t + 10)], 99))
        for t in range(0, int(seconds) - 9, 10)
    ]
    print("  p99 per 10 s window (ms): " + ", ".join(f"{w * 1e3:.1f}" for w in windows))
    late99 = float(np.percentile(load.late_sends, 99)) * 1e3
    print(
        f"  sent after their scheduled time (a connection waits for its previous answer, "
        f"or the generator for a core): p99 {late99:.2f} ms, max "
        f"{load.late_sends.max() * 1e3:.1f} ms (counted in the latency above)"
    )
    return ok


def _errors(by_status: Counter[int]) -> str:
    """'0 errors', or how many and of which statuses ('12 errors (429: 12)')."""
    total = sum(by_status.values())
    if not total:
        return "0 errors"
    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(by_status.items()))
    return f"{total:,} errors ({statuses})"


def _worklist_latency(base: str, key: str, requests: int) -> np.ndarray:
    out = []
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as client:
        for k in range(requests):
            start = time.perf_counter()
            response = client.get("/v1/worklist", params={"limit": 50, "offset": 50 * (k % 4)})
            out.append(time.perf_counter() - start)
            response.raise_for_status()
    return np.array(out[5:])  # the first pages warm the ranking cache


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder to keep store and models in")
    parser.add_argument(
        "--models-dir",
        type=Path,
        help="serve the champion bundle in this folder (default: DIR/models, trained once "
        "with `duecast train` + `duecast promote` when absent)",
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=1_000.0,
        help="requests/s of the bounded load (the target throughput)",
    )
    args = parser.parse_args()
    stop_on_sigterm()

    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = args.work or Path(tmp.name)  # type: ignore[union-attr]
    models = args.models_dir or work / "models"
    env = {
        "DUECAST_HOME": str(work / "home"),
        "DUECAST_MODELS_DIR": str(models),
        "DUECAST_SERVE_AS_OF": AS_OF,
    }
    prepare_store(work, args.customers, args.years, env, models, end=END, as_of=AS_OF)
    cleared = _reservations(work, clear=True)
    print(f"cleared {cleared:,} reservations left by earlier runs (the serving date is pinned)")
    key = create_key(env)
    # One key may send DUECAST_API_RATE_LIMIT_PER_SECOND (2,000) requests/s per worker: a
    # policy, which a fast host's closed loop passes (then 429s, measured at ~4,100/s).
    capacity_keys = [key, *(create_key(env) for _ in range(CAPACITY_KEYS - 1))]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (work / "serve.log").open("w")
    server = subprocess.Popen(
        [duecast_bin(), "serve", "--port", str(port), "--workers", str(args.workers)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        ready = wait_ready(base, server, timeout=900)
        print(f"duecast serve ready in {ready:.0f} s ({args.workers} workers)", flush=True)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
            model = client.get("/v1/model").json()
            page = client.get("/v1/worklist", params={"limit": 1000}).json()
        customers = [f"C{k:05d}" for k in range(1, args.customers + 1)]
        print(
            f"model {model['model_version']}, {model['customers']:,} customers served, "
            f"{page['total']:,} on today's worklist",
            flush=True,
        )
        wl = _worklist_latency(base, key, 105)
        load = {"connections": args.connections, "seconds": args.seconds, "warmup": args.warmup}
        workers = child_pids(server.pid)
        reference = _reference_ms()
        before, started = _cpu_seconds(workers), time.perf_counter()
        own, (steal, ticks) = time.process_time(), _cpu_times()
        bounded = _run_load(_order_load(port, [key], customers, rate=args.rate, **load))
        spent, after = time.perf_counter() - started, _cpu_seconds(workers)
        own = time.process_time() - own
        steal, ticks = (now - then for now, then in zip(_cpu_times(), (steal, ticks), strict=True))
        approved = _reservations(work)
        shares = [(after[p] - before[p]) / spent for p in after if p in before]
        closed = _run_load(_order_load(port, capacity_keys, customers, rate=None, **load))
    finally:
        stop_server(server)
        log.close()

    ok = _report_bounded(bounded, args.rate, args.connections, args.seconds)
    busy = ", ".join(f"{share:.2f}" for share in sorted(shares, reverse=True) if share > 0.01)
    print(f"  cores used by each worker process during it: {busy}")
    print(f"  cores used by this load generator: {own / spent:.2f}")
    print(
        f"  CPU time the hypervisor gave elsewhere (steal): {steal / max(ticks, 1):.1%}; "
        f"host speed reference: {reference:.1f} ms for a fixed Python loop (lower: faster)"
    )
    print(f"  approvals written (each a reservation in the store): {approved:,}")
    lat, rps = closed.latencies, closed.answered_per_s
    c50, c99 = (float(np.percentile(lat, q)) * 1e3 for q in (50, 99))
    print(
        f"capacity (closed loop, {args.connections} connections each sending as soon as "
        f"answered, over {len(capacity_keys)} keys): {rps:,.0f} requests/s, "
        f"{_errors(closed.errors)}"
    )
    # report() checks value <= target: the inverse turns the throughput floor around.
    ok &= report("ms per decision at capacity (1/rps)", 1e3 / rps, 1e3 / 1_000, "ms")
    # Not a target: with every connection always waiting, latency is the queue
    # (Little's law: mean latency = connections / throughput).
    print(
        f"  latency at capacity: p50 {c50:.2f} ms, p99 {c99:.2f} ms (queueing of "
        f"{args.connections} requests always in flight)"
    )
    errors = sum((bounded.errors + closed.errors).values())
    w50, w99 = (float(np.percentile(wl, q)) * 1e3 for q in (50, 99))
    ok &= report("worklist page of 50 p50 (ms)", w50, 100, "ms")
    ok &= report("worklist page of 50 p99 (ms)", w99, 100, "ms")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok and errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
