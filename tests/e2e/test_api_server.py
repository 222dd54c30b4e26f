"""One real `duecast serve` process (uvicorn, 2 workers) on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.utils.api_support import AS_OF, ApiTemplate, healthz_count, settings_for
from tests.utils.net import free_port

pytestmark = pytest.mark.slow


def test_duecast_serve_answers_over_http(api_template: ApiTemplate, tmp_path: Path) -> None:
    settings = settings_for(api_template, tmp_path)
    port = free_port()
    temp = tmp_path / "temp"  # where serve makes (and removes) its Prometheus folder
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
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    keys = {"X-API-Key": api_template.keys["admin"]}
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, (tmp_path / "serve.log").read_text()
        with httpx.Client(base_url=base, headers=keys, timeout=10) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            order = client.post(
                "/v1/orders/decision", json={"customer_id": "C00001", "amount": 99.0}
            )
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
            assert client.get("/metrics").status_code == 200
        # New connections spread over both workers; every scrape, whichever worker
        # answers it, counts them all (1 /healthz above plus these).
        for _ in range(12):
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        for _ in range(4):
            assert healthz_count(httpx.get(f"{base}/metrics", timeout=10).text) == 13
        assert len(list(temp.glob("duecast-metrics-*/*.db"))) >= 2
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert not list(temp.glob("duecast-metrics-*"))
