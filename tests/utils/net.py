"""Loopback helpers for tests that start real servers (API, SMTP)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["child_pids", "connections_by_process", "free_port"]


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
