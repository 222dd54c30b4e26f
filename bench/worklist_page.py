"""Benchmark: the worklist web page (GET /worklist, 50 rows) at 10,000 customers.

Target (issue 13): a worklist page of 50 rows renders in <= 200 ms server time on a
store of 10,000 customers (3 years, about 1,000,000 invoices). The app runs in this
process (Starlette's TestClient: no network, no second process), signed in through
the sign-in form with a collector key, so a request's time is the server's: session
lookup, filter, sort and page of the ranked worklist, totals, aging and the template.

Pages timed (each `--requests` times after a warm-up; p50 and p95 against the target):
the first page; a grade filter; the same filter as the HTMX fragment the filter form
asks for; a sort by expected loss; page 20 of the list including the customers waiting.
The very first request (the ranking of every customer, cached until the next event)
is printed apart.

Set-up, skipped when the work folder already holds it (`--work DIR` keeps it between
runs), as in bench/api.py: `duecast generate` + `duecast import` into SQLite,
`duecast train` + `duecast promote` into DIR/models.

    python bench/worklist_page.py [--work DIR] [--customers 10000] [--requests 50]
        [--profile]   (cProfile: where the time of the slowest page goes)
        [--browser N] (then N loads of the worklist and a customer page in Debian's
                       Chromium against `duecast serve`: Navigation Timing, target <= 2 s)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

_BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(_BENCH))
from _measure import (  # noqa: E402
    create_key,
    duecast_bin,
    free_port,
    prepare_store,
    report,
    stop_on_sigterm,
    stop_server,
    wait_ready,
)

# bench/features.py would shadow the `features` package the app imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

END = "2026-06-30"
AS_OF = "2026-07-01"  # the day after the history: every event is known
TARGET_MS = 200.0
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_ROW = re.compile(r'<tr class="(?:today|later)" data-customer=')
# Milliseconds from the start of navigation to the end of the load event.
_NAVIGATION_MS = (
    "() => { const [n] = performance.getEntriesByType('navigation');"
    " return n.loadEventEnd - n.startTime; }"
)


def _signed_in(client: TestClient, key: str) -> None:
    """Sign the TestClient in through the form, as a browser does."""
    page = client.get("/signin")
    token = _TOKEN.search(page.text)
    if token is None:
        raise SystemExit("the sign-in page has no CSRF token")
    reply = client.post(
        "/signin",
        data={"key": key, "csrf_token": token.group(1), "next": "/worklist"},
        follow_redirects=False,
    )
    if reply.status_code != 303:
        raise SystemExit(f"sign-in refused ({reply.status_code}): {reply.text[:200]}")


def _timed(client: TestClient, url: str, headers: dict[str, str], requests: int) -> np.ndarray:
    """Milliseconds of `requests` GETs of `url` after three warm-up requests."""
    out = []
    for k in range(requests + 3):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {response.text[:200]}")
        if k >= 3:
            out.append(elapsed * 1e3)
    return np.array(out)


def _pages(client: TestClient) -> dict[str, tuple[str, dict[str, str]]]:
    """The pages to time: name -> (URL, extra headers)."""
    first = client.get("/worklist").text
    grades = re.findall(r'<span class="grade g([A-E])">', first)
    grade = max(set(grades), key=grades.count) if grades else "D"
    fragment = {"HX-Request": "true", "HX-Target": "worklist-results"}
    return {
        "first page": ("/worklist", {}),
        f"grade {grade}": (f"/worklist?grade={grade}", {}),
        f"grade {grade} (HTMX fragment)": (f"/worklist?grade={grade}", fragment),
        "sorted by expected loss": ("/worklist?sort=expected_loss&dir=desc", {}),
        "page 20 (with waiting)": ("/worklist?waiting=1&page=20", {}),
    }


def _profile(client: TestClient, app: FastAPI, params: dict[str, str]) -> None:
    """Where the page's time goes: the view (filter, sort, totals) profiled apart from
    the request (session, template, HTTP); the app runs in the test client's thread, so
    the view is called here directly, on the same serving state."""
    import cProfile
    import pstats

    from serving.web.routes_worklist import worklist_query
    from serving.web.worklist_view import worklist_view

    runtime = app.state.runtime
    assert client.portal is not None  # inside the client's `with`: the app's event loop
    state = client.portal.call(lambda: runtime.current())
    query = worklist_query(params, user="bench collector", size=50)
    started = time.perf_counter()
    for _ in range(20):
        worklist_view(state, query)
    view_ms = (time.perf_counter() - started) / 20 * 1e3
    url = "/worklist?" + "&".join(f"{k}={v}" for k, v in params.items())
    whole_ms = float(np.median(_timed(client, url, {}, 20)))
    print(f"{url}: {whole_ms:.0f} ms a request, of which the view {view_ms:.0f} ms")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        worklist_view(state, query)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)


def _browser_loads(work: Path, env: dict[str, str], key: str, loads: int) -> bool:
    """Page loads in Debian's Chromium against a real `duecast serve` (one worker): the
    worklist and its first customer, `loads` times each (the first with a cold cache)."""
    import os
    import shutil
    import subprocess

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        print("--browser needs `chromium` on PATH (Debian: apt-get install chromium)")
        return False
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (work / "serve.log").open("w")
    server = subprocess.Popen(
        [duecast_bin(), "serve", "--port", str(port), "--workers", "1"],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    ok = True
    try:
        print(f"duecast serve ready in {wait_ready(base, server, timeout=900):.0f} s", flush=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 800})
            page.goto("/signin?next=/worklist")
            page.fill("#key", key)
            page.click("form[action='/signin'] button[type=submit]")
            page.wait_for_url("**/worklist")
            row = page.locator("tr[data-customer]").first
            pages = {
                "worklist": "/worklist",
                "customer": f"/customers/{row.get_attribute('data-customer')}",
            }
            for name, url in pages.items():
                ms = []
                for _ in range(loads):
                    page.goto(url, wait_until="load")
                    ms.append(float(page.evaluate(_NAVIGATION_MS)))
                ok &= report(f"browser load {name} p50", float(np.median(ms)), 2000, "ms")
                ok &= report(f"browser load {name} max", max(ms), 2000, "ms")
            browser.close()
    finally:
        stop_server(server)
        log.close()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder to keep store and models in")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--browser", type=int, default=0, metavar="N", help="also N page loads in Chromium"
    )
    args = parser.parse_args()
    stop_on_sigterm()

    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = args.work or Path(tmp.name)  # type: ignore[union-attr]
    models = work / "models"
    env = {
        "DUECAST_HOME": str(work / "home"),
        "DUECAST_MODELS_DIR": str(models),
        "DUECAST_SERVE_AS_OF": AS_OF,
    }
    prepare_store(work, args.customers, args.years, env, models, end=END, as_of=AS_OF)
    key = create_key(env, role="collector", name="bench collector")

    from fastapi.testclient import TestClient

    from kernel.config import Settings
    from serving.app import create_app

    settings = Settings(
        home=work / "home", models_dir=models, serve_as_of=dt.date.fromisoformat(AS_OF)
    )
    started = time.perf_counter()
    app = create_app(settings)
    with TestClient(app) as client:
        print(f"app ready in {time.perf_counter() - started:.0f} s", flush=True)
        # The test client logs every request at INFO once the app configured logging.
        for name in ("httpx", "httpx2"):
            logging.getLogger(name).setLevel(logging.WARNING)
        _signed_in(client, key)
        cold = time.perf_counter()
        first = client.get("/worklist")
        print(f"first request (ranks every customer): {(time.perf_counter() - cold) * 1e3:.0f} ms")
        rows = len(_ROW.findall(first.text))
        total = re.search(r'id="total-customers">(\d+)<', first.text)
        print(f"{rows} rows on the page, {total.group(1) if total else '?'} on the worklist")
        ok = rows == settings.web_page_size
        for name, (url, headers) in _pages(client).items():
            ms = _timed(client, url, headers, args.requests)
            p50, p95 = (float(np.percentile(ms, q)) for q in (50, 95))
            ok &= report(f"{name} p50", p50, TARGET_MS, "ms")
            ok &= report(f"{name} p95", p95, TARGET_MS, "ms")
        if args.profile:
            _profile(client, app, {"waiting": "1", "page": "20"})
    if args.browser:
        ok &= _browser_loads(work, env, key, args.browser)
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
