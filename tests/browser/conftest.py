"""A real `duecast serve` on loopback and Debian's Chromium driven by Playwright.

The browser is the system `chromium` (the Debian package: `.ci/run` installs it), never
a browser downloaded by Playwright. Without it the tests skip with the reason; under
CI=true they fail instead, so a missing browser can never pass silently. Every page a
test opens is watched: a console error (a script failure, a resource that failed to
load, a Content-Security-Policy violation) fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from tests.utils.net import free_port

_HERE = Path(__file__).parent
# Screenshots of every page the tests see (gitignored; the README names this folder).
ARTIFACTS = _HERE / "artifacts"
# Small pages, so that the 40 customers of the API template fill several of them.
PAGE_SIZE = 10
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder `browser` (deselect them with `-m "not browser"`)."""
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.browser)


@dataclass
class LiveServer:
    """A running `duecast serve`: its base URL, its store, the template's keys."""

    base_url: str
    database_url: str
    keys: dict[str, str]
    log: Path
    engine: sa.Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = sa.create_engine(self.database_url)

    def scalar(self, sql: str, **params: object) -> object:
        """One value read from the server's store (what the user's action wrote)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"duecast serve exited before it was ready:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"duecast serve not ready after 60 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium; skip without it (fail under CI=true)."""
    found = shutil.which("chromium")
    if found is None:
        reason = "no `chromium` on PATH (Debian: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: browser tests must run)")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def live_server(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`duecast serve` (one worker) on a copy of the API template's store, on a free port."""
    root = tmp_path_factory.mktemp("browser-server")
    settings = settings_for(api_template, root)
    temp = root / "temp"  # serve's temporary files stay inside the test's folder
    temp.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DUECAST_")},
        "TMPDIR": str(temp),
        "DUECAST_HOME": str(settings.home),
        "DUECAST_DATABASE_URL": settings.database_url,
        "DUECAST_MODELS_DIR": str(settings.models_dir),
        "DUECAST_SERVE_AS_OF": AS_OF.isoformat(),
        "DUECAST_WEB_PAGE_SIZE": str(PAGE_SIZE),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = root / "serve.log"
    cli = Path(sys.executable).parent / "duecast"
    command = [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(base, settings.database_url, api_template.keys, log)
    try:
        _wait_ready(base, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.engine.dispose()


# Every CSP violation is also written to the console as an error, so the watcher sees it
# whatever the browser's own wording.
_REPORT_CSP = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
});
"""
# Page load times (ms, Navigation Timing loadEventEnd), one "page<TAB>ms" line each, from
# every xdist worker: printed after the run, never asserted (no wall-time assertions in
# tests; bench/ has the targets).
LOAD_TIMES = ARTIFACTS / "page-load-ms.tsv"


@dataclass
class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def note_console(self, kind: str, text: str, url: str) -> None:
        """Keep a console error with the URL it is about."""
        if kind == "error":
            self.errors.append(f"{text} ({url})" if url else text)

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot under ARTIFACTS as `name`.png."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def load_ms(self, name: str) -> float:
        """Milliseconds from navigation start to the end of the load event; recorded."""
        ms = float(
            self.page.evaluate(
                "() => { const [n] = performance.getEntriesByType('navigation');"
                " return n ? n.loadEventEnd - n.startTime : -1; }"
            )
        )
        ARTIFACTS.mkdir(exist_ok=True)
        with LOAD_TIMES.open("a") as out:  # one short line: appends do not interleave
            out.write(f"{name}\t{ms:.0f}\n")
        return ms


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Debian Chromium, one for the whole run."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser, live_server: LiveServer) -> Iterator[Callable[..., Watched]]:
    """Open a fresh browser (own cookies) at a viewport; fail the test on console errors."""
    contexts: list[BrowserContext] = []
    watched: list[Watched] = []

    def make(viewport: ViewportSize = DESKTOP) -> Watched:
        context = browser.new_context(base_url=live_server.base_url, viewport=viewport)
        context.set_default_timeout(10_000)
        context.add_init_script(_REPORT_CSP)
        contexts.append(context)
        w = Watched(context.new_page())
        w.page.on("console", lambda m: w.note_console(m.type, m.text, m.location.get("url", "")))
        w.page.on("pageerror", lambda e: w.errors.append(f"uncaught: {e}"))
        # The console says "failed to load resource" without the URL: name it.
        w.page.on(
            "response",
            lambda r: (
                w.errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.request.resource_type != "document"
                else None
            ),
        )
        watched.append(w)
        return w

    yield make
    for context in contexts:
        context.close()
    errors = [e for w in watched for e in w.errors]
    assert not errors, f"the browser reported errors: {errors}"


def sign_in(w: Watched, key: str, next_url: str = "/worklist") -> None:
    """Sign in through the form, as a person does, and land on `next_url`."""
    w.page.goto(f"/signin?next={next_url}")
    w.page.fill("#key", key)
    w.page.click("form[action='/signin'] button[type=submit]")
    w.page.wait_for_url(re.compile(re.escape(next_url) + "$"))


def pytest_configure(config: pytest.Config) -> None:
    """A fresh load-time record per run (the controller's, not each xdist worker's)."""
    if not hasattr(config, "workerinput"):
        LOAD_TIMES.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Page load times the browser measured (Navigation Timing), for the record."""
    if LOAD_TIMES.exists():
        terminalreporter.section("browser page loads (ms, Navigation Timing loadEventEnd)")
        for line in LOAD_TIMES.read_text().splitlines():
            name, ms = line.split("\t")
            terminalreporter.write_line(f"{name:<40} {ms:>6}")
