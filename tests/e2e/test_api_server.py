"""One real `duecast serve` process (2 workers) on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.utils.api_support import AS_OF, ApiTemplate, healthz_count, settings_for
from tests.utils.net import child_pids, connections_by_process, free_port

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen
    base: str
    port: int
    temp: Path
    log: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def served(api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`duecast serve --workers 2`, once it listens (both workers' state built)."""
    root = tmp_path_factory.mktemp("serve")
    settings = settings_for(api_template, root)
    port = free_port()
    temp = root / "temp"  # where serve makes (and removes) its Prometheus folder
    temp.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "TMPDIR": str(temp),
        "DUECAST_HOME": str(settings.home),
        "DUECAST_DATABASE_URL": settings.database_url,
        "DUECAST_MODELS_DIR": str(settings.models_dir),
        "DUECAST_SERVE_AS_OF": AS_OF.isoformat(),
    }
    cli = Path(sys.executable).parent / "duecast"
    command = [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    log_path = root / "serve.log"
    log = log_path.open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        # The supervisor listens once every worker has built its state.
        while not _listens(port):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield Served(process, f"http://127.0.0.1:{port}", port, temp, log_path, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert not list(temp.glob("duecast-metrics-*"))


def test_duecast_serve_answers_over_http(served: Served, api_template: ApiTemplate) -> None:
    base = served.base
    keys = {"X-API-Key": api_template.keys["admin"]}
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    with httpx.Client(base_url=base, headers=keys, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        order = client.post("/v1/orders/decision", json={"customer_id": "C00001", "amount": 99.0})
        assert order.status_code == 200 and order.json()["as_of"] == AS_OF.isoformat()
        assert (
            client.post(
                "/v1/orders/decision", json={"customer_id": "C00001", "amount": -1}
            ).status_code
            == 422
        )
        assert client.get("/v1/worklist", params={"limit": 5}).json()["count"] == 5
        event = {
            "invoice_id": "INV-SERVE-1",
            "customer_id": "C00001",
            "issue_date": "2026-02-20",
            "due_date": "2026-02-25",
            "amount": 50_000.0,
        }
        assert client.post("/v1/events/invoices", json=event).status_code == 201
        # Whichever worker answers, the new invoice is in the customer's exposure.
        for _ in range(6):
            view = client.get("/v1/customers/C00001").json()
            assert view["overdue_amount"] >= 50_000.0
        before = healthz_count(client.get("/metrics").text)
    # Every scrape, whichever worker answers it, counts the requests of both.
    for _ in range(12):
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    for _ in range(4):
        assert healthz_count(httpx.get(f"{base}/metrics", timeout=10).text) == before + 12
    assert len(list(served.temp.glob("duecast-metrics-*/*.db"))) >= 2


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_kept_alive_connections_are_dealt_evenly_to_the_workers(served: Served) -> None:
    # With one socket shared, Linux wakes the worker that has just answered: under
    # bench/api.py's load one worker took every connection while the other idled. With
    # a socket each, the kernel's hash split 16 connections 10/6. Dealt in turn: 20/20.
    workers = child_pids(served.process.pid)
    clients = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(40)]
    try:
        for client in clients:  # each connection answered before the next one opens
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        held = connections_by_process(workers, served.port)
    finally:
        for client in clients:
            client.close()
    # (The serve process's other child, multiprocessing's resource tracker, holds none.)
    dealt = sorted(count for count in held.values() if count)
    assert dealt == [20, 20], f"connections per worker process: {held}"


def test_a_second_serve_on_the_same_port_is_refused(served: Served) -> None:
    cli = Path(sys.executable).parent / "duecast"
    command = [str(cli), "serve", "--port", str(served.port), "--workers", "2"]
    second = subprocess.run(command, env=served.env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert f"cannot listen on 127.0.0.1:{served.port}" in second.stderr
    assert httpx.get(f"{served.base}/healthz", timeout=10).status_code == 200


def _workers(pid: int) -> set[int]:
    """The serve process's worker processes (not multiprocessing's resource tracker)."""
    found = set()
    for child in child_pids(pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
    return found


def _held_after_requests(served: Served, count: int) -> dict[int, int]:
    """Open `count` kept-alive connections, each answered; who holds them."""
    clients = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(count)]
    try:
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        return connections_by_process(sorted(_workers(served.process.pid)), served.port)
    finally:
        for client in clients:
            client.close()


def test_a_worker_that_dies_is_replaced_and_dealt_connections_once_ready(
    served: Served,
) -> None:
    # Last in the module: it changes the served workers.
    before = _workers(served.process.pid)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 90
    while True:  # the survivor answers meanwhile; the new worker once its state is built
        try:
            held = _held_after_requests(served, 2)
        except ConnectionResetError:
            # Dealt to the victim in the instant before the kernel ended it: a client
            # of a worker that crashes connects again.
            held = {}
        newcomer = _workers(served.process.pid) - before
        if newcomer and held.get(newcomer.pop(), 0):
            break
        assert time.monotonic() < deadline, served.log.read_text()
        time.sleep(0.5)
    assert victim not in _workers(served.process.pid)
    held = _held_after_requests(served, 20)
    assert sorted(count for count in held.values() if count) == [10, 10], held
    assert "starting another" in served.log.read_text()
