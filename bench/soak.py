"""Soak test: mixed API traffic at a fixed rate against `duecast serve --workers 2`.

Sends, on loopback only and for a bounded time, a fixed mix of requests over a few
keep-alive connections on a fixed schedule (open loop, as in bench/api.py's bounded
load: a request's latency counts from its scheduled time):

- POST /v1/orders/decision  70 %  (scorer key)
- GET  /v1/worklist         10 %  (collector key, pages of 50)
- GET  /v1/customers/{id}   10 %  (scorer key)
- POST /v1/invoices/score   10 %  (scorer key, one new invoice)

Targets (issue 9), which set the exit code (1 when one is missed): 0 errors (non-2xx
answers or connection errors, warm-up included); every worker's resident memory flat
within 5 % between the end of the warm-up and the end of the run. p50/p99 per route are
printed as figures; beside the order decision and the worklist page stand the latency
targets of bench/api.py (issue 5), which that benchmark checks under its own load.

Set-up, skipped for what `--store DIR` already holds: `duecast generate` + `duecast
import` into SQLite, `duecast train` + `duecast promote` into DIR/models (1,000
customers over 2 years: well under a minute). The server is always stopped at the end.

    python bench/soak.py [--store DIR] [--customers 1000] [--rate 300] [--seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
    rss_kib,
    stop_on_sigterm,
    stop_server,
    wait_ready,
)

END = "2026-06-30"
AS_OF = "2026-07-01"  # the day after the history: every event is known

# Route -> (share of the traffic in tenths, bench/api.py's p99 target in ms, if any).
ROUTES: dict[str, tuple[int, float | None]] = {
    "orders": (7, 10.0),
    "worklist": (1, 100.0),
    "customer": (1, None),
    "score": (1, None),
}
RSS_DRIFT_TARGET = 5.0  # percent
REQUEST_TIMEOUT = 10.0  # seconds; a request without an answer by then is an error


@dataclass
class Tally:
    """What the load saw: latencies per route (measured window), sends and errors."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})
    sent: int = 0
    sent_measured: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # "route status" -> count

    def error(self, route: str, what: str) -> None:
        """Count one failed request of `route` (`what`: the status or the exception)."""
        label = f"{route} {what}"
        self.errors[label] = self.errors.get(label, 0) + 1


def _request(route: str, rng: random.Random, customers: list[str], keys: dict[str, str]) -> bytes:
    """The raw HTTP/1.1 request for one call of `route`."""
    customer = rng.choice(customers)
    body = b""
    if route == "orders":
        method, path, key = "POST", "/v1/orders/decision", keys["scorer"]
        body = json.dumps({"customer_id": customer, "amount": round(rng.uniform(100, 20_000), 2)})
    elif route == "score":
        method, path, key = "POST", "/v1/invoices/score", keys["scorer"]
        invoice = {"customer_id": customer, "amount": round(rng.uniform(100, 20_000), 2)}
        body = json.dumps({"invoices": [invoice]})
    elif route == "customer":
        method, path, key = "GET", f"/v1/customers/{customer}", keys["scorer"]
    else:
        offset = 50 * rng.randrange(4)
        method, path, key = "GET", f"/v1/worklist?limit=50&offset={offset}", keys["collector"]
    head = f"{method} {path} HTTP/1.1\r\nHost: soak\r\nX-API-Key: {key}\r\n"
    if body:
        data = body.encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        return (head + "\r\n").encode() + data
    return (head + "\r\n").encode()


def _mix(rng: random.Random) -> list[str]:
    """One block of ten routes in the traffic shares, shuffled."""
    block = [route for route, (tenths, _) in ROUTES.items() for _ in range(tenths)]
    rng.shuffle(block)
    return block


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send one request, read its whole answer; (status, server asked to close)."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" not in headers:
        raise ConnectionError(f"answer {status} without Content-Length")
    await reader.readexactly(int(headers[b"content-length"]))
    return status, headers.get(b"connection", b"").lower() == b"close"


async def _load(
    port: int,
    keys: dict[str, str],
    customers: list[str],
    *,
    rate: float,
    connections: int,
    warmup: float,
    seconds: float,
    on_measure_start: Callable[[], None],
) -> Tally:
    """Mixed requests at `rate`/s over `connections` keep-alive connections, on a schedule.

    `on_measure_start` is called once, when the warm-up ends (the start RSS is read then).

    A connection closed by the server (or broken) is counted as an error and reopened,
    so one failure does not stop the rest of the run.
    """
    tally = Tally()
    start = time.perf_counter() + 0.5
    measure_from = start + warmup
    stop = measure_from + seconds
    interval = connections / rate

    async def marker() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        on_measure_start()

    async def connection(seed: int) -> None:
        rng = random.Random(seed)
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        # Connections start spread over one interval, not all at once.
        due = start + interval * seed / connections
        routes: list[str] = []
        try:
            while due < stop:
                now = time.perf_counter()
                if now < due:
                    await asyncio.sleep(due - now)
                routes = routes or _mix(rng)
                route = routes.pop()
                request = _request(route, rng, customers, keys)
                measured = due >= measure_from
                tally.sent += 1
                tally.sent_measured += measured
                try:
                    if conn is None:
                        conn = await asyncio.open_connection("127.0.0.1", port)
                    status, close = await asyncio.wait_for(
                        _exchange(*conn, request), REQUEST_TIMEOUT
                    )
                except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as e:
                    tally.error(route, type(e).__name__)
                    if conn is not None:
                        conn[1].close()
                    conn = None
                else:
                    if not 200 <= status < 300:
                        tally.error(route, str(status))
                    elif measured:
                        tally.latencies[route].append(time.perf_counter() - due)
                    if close:
                        conn[1].close()
                        conn = None
                due += interval
        finally:
            if conn is not None:
                conn[1].close()

    await asyncio.gather(marker(), *(connection(k) for k in range(connections)))
    return tally


def _workers(server: subprocess.Popen, expected: int, timeout: float = 30) -> list[int]:
    """PIDs of the uvicorn workers: children of the serve process answering to spawn_main.

    multiprocessing may start a resource tracker beside them, told apart by its command line.
    """
    deadline = time.monotonic() + timeout
    while True:
        pids = []
        for pid in child_pids(server.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline:
                pids.append(pid)
        if len(pids) >= expected or time.monotonic() > deadline:
            return pids
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", type=Path, help="work folder holding (or to hold) store and models"
    )
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--years", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate", type=float, default=300.0, help="requests/s, all routes")
    parser.add_argument("--seconds", type=float, default=120.0, help="measured run")
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds of the same load before RSS start"
    )
    args = parser.parse_args()
    stop_on_sigterm()
    if args.rate <= 0 or args.seconds <= 0 or args.connections < 1:
        parser.error("--rate and --seconds must be positive, --connections at least 1")

    tmp = None if args.store else tempfile.TemporaryDirectory()
    work = args.store or Path(tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    models = work / "models"
    env = {
        "DUECAST_HOME": str(work / "home"),
        "DUECAST_MODELS_DIR": str(models),
        "DUECAST_SERVE_AS_OF": AS_OF,
        # One LightGBM thread: on a busy machine OpenMP threads mostly wait for each other.
        "DUECAST_TRAIN_THREADS": "1",
    }
    started = time.perf_counter()
    prepare_store(work, args.customers, args.years, env, models, end=END, as_of=AS_OF)
    keys = {role: create_key(env, role, f"soak-{role}") for role in ("scorer", "collector")}
    print(f"set-up {time.perf_counter() - started:.0f} s", flush=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = work / "serve.log"
    rss: dict[str, dict[int, int | None]] = {}
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                duecast_bin(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ready = wait_ready(base, server, timeout=300)
            workers = _workers(server, args.workers)
            print(f"duecast serve ready in {ready:.0f} s, workers {workers}", flush=True)
            with httpx.Client(base_url=base, headers={"X-API-Key": keys["scorer"]}) as client:
                served = client.get("/v1/model", timeout=30).json()["customers"]
            # The ids of the generated store (a reused --store may hold another count).
            customers = [f"C{k:05d}" for k in range(1, served + 1)]
            print(
                f"{served:,} customers served; {args.rate:,.0f} requests/s over "
                f"{args.connections} connections: {args.warmup:g} s warm-up + "
                f"{args.seconds:g} s measured",
                flush=True,
            )

            def measure_start() -> None:
                rss["start"] = {pid: rss_kib(pid) for pid in workers}

            tally = asyncio.run(
                _load(
                    port,
                    keys,
                    customers,
                    rate=args.rate,
                    connections=args.connections,
                    warmup=args.warmup,
                    seconds=args.seconds,
                    on_measure_start=measure_start,
                )
            )
            rss["end"] = {pid: rss_kib(pid) for pid in workers}
            workers_after = _workers(server, args.workers, timeout=0)
        finally:
            stop_server(server)

    ok = True
    errors = sum(tally.errors.values())
    print(
        f"requests sent: {tally.sent:,} ({tally.sent_measured:,} after the warm-up, "
        f"{tally.sent_measured / args.seconds:,.0f}/s)"
    )
    verdict = "OK" if errors == 0 else "MISSED"
    print(f"{'errors (non-2xx or connection)':<40} {errors:>9,d}      target 0  {verdict}")
    ok &= errors == 0
    for label, count in sorted(tally.errors.items()):
        print(f"  {label}: {count}")
    print("latency from the scheduled send (ms), successful requests after the warm-up:")
    for route, (_, p99_target) in ROUTES.items():
        lat = np.array(tally.latencies[route]) * 1e3
        if lat.size == 0:
            print(f"  {route:<9} no successful request in the measured window  MISSED")
            ok = False
            continue
        p50, p99 = (float(np.percentile(lat, q)) for q in (50, 99))
        ref = "" if p99_target is None else f"  (bench/api.py p99 target <= {p99_target:g} ms)"
        print(f"  {route:<9} {lat.size:>7,} answered  p50 {p50:7.2f}  p99 {p99:7.2f}{ref}")
    for pid in workers:
        before, after = rss["start"].get(pid), rss["end"].get(pid)
        if before is None or after is None:
            print(f"worker {pid}: gone before the end of the run  MISSED")
            ok = False
            continue
        drift = 100.0 * (after - before) / before
        print(
            f"worker {pid} RSS: {before / 1024:,.1f} MiB at start, {after / 1024:,.1f} MiB at end"
        )
        # Flat means neither growing nor shrinking by more than the target.
        ok &= report(f"worker {pid} RSS drift (|%|)", abs(drift), RSS_DRIFT_TARGET, "%")
        print(f"  (signed drift {drift:+.2f} %)")
    if sorted(workers_after) != sorted(workers):
        print(f"workers changed during the run: {workers} -> {workers_after}  MISSED")
        ok = False
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if errors or not ok:
        tail = log_path.read_text(errors="replace").splitlines()[-20:]
        print("last lines of the server log:", *tail, sep="\n  ")
    if tmp is None:
        print(f"server log: {log_path}")
    else:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
