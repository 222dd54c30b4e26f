"""Loopback helpers for tests that start real servers (API, SMTP)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from serving.http_protocol import CoalescingHttpToolsProtocol

__all__ = ["child_pids", "connections_by_process", "free_port", "served_in_thread"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """The direct children of process `pid` (Linux, from /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.update(int(child) for child in task.read_text().split())
    return sorted(found)


def connections_by_process(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections to local `port` each process holds (Linux)."""
    inodes: dict[str, int] = {}  # socket inode -> its local port, established ones only
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01":  # ESTABLISHED
                inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    counts = {}
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if target.startswith("socket:["):
                held += inodes.get(target[8:-1]) == port
        counts[pid] = held
    return counts


@contextlib.contextmanager
def served_in_thread(
    app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "auto"
) -> Iterator[int]:
    """`app` on a real uvicorn server (a thread) on a free loopback port, with the HTTP
    protocol `duecast serve` runs; yields the port once the server has started."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_config=None, lifespan=lifespan, http=CoalescingHttpToolsProtocol
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
