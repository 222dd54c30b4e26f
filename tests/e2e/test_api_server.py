"""One real `duecast serve` process (2 workers) on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from serving.workers import listening_sockets
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
    """`duecast serve --workers 2`, once both workers listen."""
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
        # Each worker listens on its own socket once its state is built.
        while listening_sockets(port) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.2)
        assert listening_sockets(port) == 2, log_path.read_text()
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


def test_each_worker_listens_on_its_own_socket(served: Served) -> None:
    # With one socket shared, Linux wakes the worker that has just answered: under
    # bench/api.py's load one worker took every connection while the other idled. With
    # a socket each, the kernel spreads connections by a hash, however busy each is.
    assert listening_sockets(served.port) == 2


def test_kept_alive_connections_spread_over_both_workers(served: Served) -> None:
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
    assert sum(held.values()) == 40, held
    serving = [count for count in held.values() if count]
    assert len(serving) == 2, f"connections per worker process: {held}"


def test_a_second_serve_on_the_same_port_is_refused(served: Served) -> None:
    cli = Path(sys.executable).parent / "duecast"
    command = [str(cli), "serve", "--port", str(served.port), "--workers", "2"]
    second = subprocess.run(command, env=served.env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert f"cannot listen on 127.0.0.1:{served.port}" in second.stderr
    assert listening_sockets(served.port) == 2
