"""/metrics with several workers: Prometheus multiprocess mode sums every worker's counts.

prometheus_client picks its mode when first imported, so the workers here are
subprocesses started with PROMETHEUS_MULTIPROC_DIR set, as uvicorn starts them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from duecast.cli import app
from tests.utils.api_support import healthz_count

# One stand-in worker: the real middleware and health routes, `n` GETs of /healthz,
# then (when asked) one scrape of /metrics printed to stdout.
_WORKER = """
import sys
from fastapi import FastAPI
from fastapi.testclient import TestClient
from serving.middleware import RequestContextMiddleware
from serving.routes import health

app = FastAPI()
app.include_router(health.router)
app.add_middleware(RequestContextMiddleware)
with TestClient(app) as client:
    for _ in range(int(sys.argv[1])):
        assert client.get("/healthz").status_code == 200
    if sys.argv[2] == "scrape":
        sys.stdout.write(client.get("/metrics").text)
"""


def _run_worker(requests: int, mode: str, multiproc_dir: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    result = subprocess.run(
        [sys.executable, "-c", _WORKER, str(requests), mode],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_one_scrape_counts_the_requests_of_every_process(tmp_path: Path) -> None:
    multiproc_dir = tmp_path / "prom"
    multiproc_dir.mkdir()
    _run_worker(3, "quiet", multiproc_dir)
    scrape = _run_worker(5, "scrape", multiproc_dir)
    assert healthz_count(scrape) == 8
    assert "duecast_http_request_seconds_count" in scrape


def _capture_serve(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, list[str | None]]:
    """Runs `duecast serve` with the workers' start replaced; returns the exit code and
    the PROMETHEUS_MULTIPROC_DIR each call saw."""
    from serving import workers

    seen: list[str | None] = []

    def fake_serve(*_args: object, **_kwargs: object) -> int:
        path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        seen.append(path)
        if path:
            assert Path(path).is_dir()
        return 0

    monkeypatch.setattr(workers, "serve", fake_serve)
    result = CliRunner().invoke(app, ["serve", *args])
    return result.exit_code, seen


def test_serve_with_workers_uses_a_fresh_metrics_dir_and_removes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    code, seen = _capture_serve(monkeypatch, "--workers", "2")
    assert code == 0 and seen[0] is not None
    assert not Path(seen[0]).exists()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ

    code, seen = _capture_serve(monkeypatch, "--workers", "1")
    assert code == 0 and seen == [None]


def test_serve_keeps_the_users_metrics_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    code, seen = _capture_serve(monkeypatch, "--workers", "2")
    assert code == 0 and seen == [str(tmp_path)]
    assert tmp_path.is_dir() and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    code, seen = _capture_serve(monkeypatch, "--workers", "2")
    assert code == 2 and seen == []
