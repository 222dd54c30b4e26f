"""SIGKILL at the worst moments: an import is all or nothing, an acknowledged action stays.

An import runs in a child process and is killed at points spread over its run: while
it writes the first table, in the middle of a later one, and after its last row is
written but before the commit (the child waits at its progress callback for the test's
go-ahead, so each kill lands exactly there), plus once while it runs freely. After each
kill the store equals the one before the import (or, had it committed, the one after);
a re-run completes. Then a real server is killed while clients log actions: every
action it acknowledged is stored exactly once, and clients retrying the unanswered ones
with their Idempotency-Keys (on the app started again) leave each stored exactly once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.importing import import_directory
from features.store import dispose_engines, get_engine
from features.synthetic import generate_ledger, write_ledger
from kernel.config import Settings
from kernel.schema import IMPORT_ORDER, TABLES
from serving.app import create_app
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from tests.utils.net import free_port

pytestmark = pytest.mark.slow

# Runs the real import on DUECAST_DATABASE_URL; prints each progress step and, when
# asked to, waits there for a line on stdin (the test answers, or kills it there).
_CHILD = """
import sys
from pathlib import Path

from kernel.config import get_settings
from features.importing import import_directory
from features.store import get_engine

pause = sys.argv[2] == "pause"


def progress(stage, done, total):
    print(f"{stage}|{done}|{total}", flush=True)
    if pause:
        sys.stdin.readline()


engine = get_engine(get_settings().database_url)
import_directory(engine, Path(sys.argv[1]), chunk_rows=1000, on_progress=progress)
print("done", flush=True)
"""

Step = tuple[str, int, int]  # (stage, done, total) as the import reports progress


# ---------------------------------------------------------------- exports and store


def _exports(root: Path) -> tuple[Path, Path, dict[str, int]]:
    """A base export and a later one that updates a third of the invoices and adds
    payments and actions; returns both folders and the later one's row counts."""
    full = generate_ledger(customers=150, seed=11, years=2.0, end_date=dt.date(2026, 3, 1))
    base = dict(full)
    invoices = full["invoices"].copy()
    invoices.loc[invoices.index % 3 == 0, "amount"] = invoices["amount"] * 1.5
    base["invoices"] = invoices
    base["payments"] = full["payments"].iloc[: len(full["payments"]) // 2]
    base["actions"] = full["actions"].iloc[: len(full["actions"]) // 2]
    write_ledger(base, root / "base")
    write_ledger(full, root / "later")
    return root / "base", root / "later", {name: len(frame) for name, frame in full.items()}


def _digest(url: str) -> str:
    """A fingerprint of every imported table and of the change log's customers."""
    digest = hashlib.sha256()
    with get_engine(url).connect() as conn:
        for name in IMPORT_ORDER:
            rows = conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY {TABLES[name].key}"))
            digest.update(repr([tuple(r) for r in rows]).encode())
        logged = conn.execute(sa.text("SELECT customer_id, kind FROM change_log"))
        digest.update(repr(sorted(tuple(map(str, r)) for r in logged)).encode())
    dispose_engines()  # no connection kept across the child's run
    return digest.hexdigest()


def _counts(url: str) -> dict[str, int]:
    with get_engine(url).connect() as conn:
        return {
            name: int(conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() or 0)
            for name in IMPORT_ORDER
        }


def _kill_import(url: str, export: Path, kill_at: Callable[[Step], bool], *, pause: bool) -> bool:
    """Run the import in a child and SIGKILL it at the first step `kill_at` picks.

    Returns whether it was killed (False: it finished first).
    """
    env = {**os.environ, "DUECAST_DATABASE_URL": url}
    mode = "pause" if pause else "run"
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(export), mode],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        killed = False
        try:
            for line in child.stdout:
                if line.strip() == "done":
                    break
                stage, done, total = line.strip().split("|")
                if kill_at((stage, int(done), int(total))):
                    child.send_signal(signal.SIGKILL)
                    killed = True
                    break
                if pause:
                    child.stdin.write("\n")
                    child.stdin.flush()
        finally:
            if not killed:
                child.stdin.close()
            child.wait(timeout=30)
    if killed:
        assert child.returncode == -signal.SIGKILL
    else:
        assert child.returncode == 0
    return killed


def _in_write(table: str, where: Callable[[int, int], bool]) -> Callable[[Step], bool]:
    return lambda step: step[0] == f"write {table}" and where(step[1], step[2])


_LAST_TABLE = IMPORT_ORDER[-1]

# Where the import is killed: (name, which step, whether the child waits there).
_KILLS: list[tuple[str, Callable[[Step], bool], bool]] = [
    ("first write", _in_write("invoices", lambda done, total: 0 < done < total), True),
    ("mid import", _in_write("payments", lambda done, total: done >= total // 2 > 0), True),
    ("before commit", _in_write(_LAST_TABLE, lambda done, total: done == total), True),
    ("free running", _in_write("invoices", lambda done, _total: done > 0), False),
]


def test_sigkill_mid_import_leaves_nothing_or_everything(db_url: str, tmp_path: Path) -> None:
    base, later, expected = _exports(tmp_path)
    import_directory(get_engine(db_url), base)
    before = _digest(db_url)
    after_kills = []
    for name, kill_at, pause in _KILLS:
        killed = _kill_import(db_url, later, kill_at, pause=pause)
        after_kills.append((name, killed, _digest(db_url)))
    summary = import_directory(get_engine(db_url), later)  # the re-run completes
    assert _counts(db_url) == expected
    after = _digest(db_url)
    assert before != after
    for name, killed, digest in after_kills:
        # Killed before the commit: nothing of the import; finished: all of it.
        assert digest == (before if killed else after), name
    assert [killed for _, killed, _ in after_kills][:3] == [True, True, True]
    assert summary.tables["invoices"].updated == expected["invoices"] // 3 + (
        expected["invoices"] % 3 > 0
    )
    assert not import_directory(get_engine(db_url), later).changed


# ---------------------------------------------------------------- a killed server


class _Server:
    """`uvicorn --factory serving.app:create_app` on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = log.open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "serving.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log = log

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server never became ready:\n{self.log.read_text()}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()


def _server_env(settings: Settings) -> dict[str, str]:
    """The environment of a server on the store and models of `settings`."""
    return {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DUECAST_HOME": str(settings.home),
        "DUECAST_DATABASE_URL": settings.database_url,
        "DUECAST_MODELS_DIR": str(settings.models_dir),
        "DUECAST_SERVE_AS_OF": AS_OF.isoformat(),
    }


CLIENTS = 4
KILL_AFTER_ACKS = 20
MAX_REQUESTS = 300  # per run, in case the kill is slow to land


def _send(
    base: str,
    key: str,
    customer: str,
    todo: list[str],
    lock: threading.Lock,
    replies: dict[str, int | None],
    acked: threading.Event | None,
) -> None:
    """Log the actions in `todo` (each text doubles as its Idempotency-Key) until the server
    goes away; record each reply status (None: no reply)."""
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as client:
        while True:
            with lock:
                if not todo:
                    return
                text = todo.pop()
            body = {"customer_id": customer, "kind": "note", "text": text}
            try:
                reply = client.post("/v1/actions", json=body, headers={"Idempotency-Key": text})
            except httpx.TransportError:
                with lock:
                    replies[text] = None
                return
            with lock:
                replies[text] = reply.status_code
                ok = sum(1 for s in replies.values() if s is not None and s < 300)
            if acked is not None and ok >= KILL_AFTER_ACKS:
                acked.set()


def _stored(url: str, texts: list[str]) -> dict[str, tuple[int, int]]:
    """For each text: how many actions and idempotency keys hold it."""
    engine = get_engine(url)
    with engine.connect() as conn:
        actions = dict(
            conn.execute(
                sa.text("SELECT text, count(*) FROM actions WHERE text LIKE 'kill-%' GROUP BY text")
            ).all()
        )
        keys = dict(
            conn.execute(
                sa.text(
                    "SELECT key, count(*) FROM idempotency_keys"
                    " WHERE key LIKE 'kill-%' GROUP BY key"
                )
            ).all()
        )
    dispose_engines()
    return {t: (int(actions.get(t, 0)), int(keys.get(t, 0))) for t in texts}


def test_a_server_killed_while_acknowledging_actions_loses_none(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path)  # a copy of the template's store
    env, url = _server_env(settings), settings.database_url
    with get_engine(url).connect() as conn:
        customer = conn.execute(sa.text("SELECT min(customer_id) FROM customers")).scalar()
    dispose_engines()
    key = api_template.keys["collector"]
    texts = [f"kill-{i:04d}" for i in range(MAX_REQUESTS)]
    todo = list(reversed(texts))
    lock = threading.Lock()
    replies: dict[str, int | None] = {}
    acked = threading.Event()

    server = _Server(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        clients = [
            threading.Thread(
                target=_send, args=(server.base, key, customer, todo, lock, replies, acked)
            )
            for _ in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 60
        while not acked.wait(0.05) and any(c.is_alive() for c in clients):
            assert time.monotonic() < deadline, "no acknowledgements within 60 s"
        assert acked.is_set(), (sorted(set(replies.values()), key=str), server.log.read_text())
        server.kill()  # while the clients still send
        for client in clients:
            client.join(timeout=30)
    finally:
        server.kill()

    sent = sorted(replies)
    acknowledged = [t for t in sent if (replies[t] or 500) < 300]
    assert len(acknowledged) >= KILL_AFTER_ACKS
    assert not [t for t in sent if replies[t] is not None and replies[t] >= 300], replies
    assert len(sent) < MAX_REQUESTS  # the kill landed mid-stream
    stored = _stored(url, texts)
    # Every acknowledged action is stored with its key, exactly once; none is doubled.
    assert {t: stored[t] for t in acknowledged} == {t: (1, 1) for t in acknowledged}
    assert all(stored[t] in ((0, 0), (1, 1)) for t in texts), stored

    # The clients retry what got no reply, with the same keys, once the service is back.
    unanswered = [t for t in sent if replies[t] is None]
    retried: dict[str, int] = {}
    with TestClient(create_app(settings)) as client:
        for text in unanswered:
            body = {"customer_id": customer, "kind": "note", "text": text}
            headers = {"X-API-Key": key, "Idempotency-Key": text}
            retried[text] = client.post("/v1/actions", json=body, headers=headers).status_code
    assert all(status in (200, 201) for status in retried.values()), retried
    stored = _stored(url, texts)
    assert {t: stored[t] for t in sent} == {t: (1, 1) for t in sent}
    assert all(stored[t] == (0, 0) for t in texts if t not in replies)
