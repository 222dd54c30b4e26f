"""The supervisor deals each connection to the next ready worker, past one that cannot
take it now (its queue full) or any more (it has ended)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from serving import workers


def _filled(sock: socket.socket) -> None:
    """Write to `sock` until the kernel takes no more."""
    for size in (65536, 1):
        while True:
            try:
                sock.send(b"x" * size)
            except BlockingIOError:
                break


@pytest.fixture
def pairs() -> Any:
    made: list[socket.socket] = []

    def pair() -> tuple[socket.socket, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        made.extend((ours, theirs))
        return ours, theirs

    yield pair
    for sock in made:
        sock.close()


def _supervisor(*controls: socket.socket) -> workers._Supervisor:
    supervisor = workers._Supervisor(socket.socket(), len(controls), "warning")
    supervisor.listener.close()
    supervisor.workers = [
        workers._Process(process=None, control=control, ready=True)  # type: ignore[arg-type]
        for control in controls
    ]
    return supervisor


def _dealt(theirs: socket.socket) -> int:
    theirs.setblocking(False)
    try:
        message, fds, _, _ = socket.recv_fds(theirs, 16, 4)
    except BlockingIOError:
        return 0
    for fd in fds:
        socket.socket(fileno=fd).close()
    return len(fds) if message == b"c" else 0


def test_connections_go_to_the_workers_in_turn(pairs: Any) -> None:
    (one, one_end), (two, two_end) = pairs(), pairs()
    supervisor = _supervisor(one, two)
    for _ in range(4):
        client, _server = socket.socketpair()
        supervisor._send(client)
        client.close()
        _server.close()
    assert [_dealt(one_end) + _dealt(one_end), _dealt(two_end) + _dealt(two_end)] == [2, 2]


def test_a_full_queue_passes_the_connection_on_and_keeps_the_worker(pairs: Any) -> None:
    (full, _reader), (free, free_end) = pairs(), pairs()
    _filled(full)
    supervisor = _supervisor(full, free)
    client, server = socket.socketpair()
    with client, server:
        supervisor._send(client)
    assert _dealt(free_end) == 1
    assert supervisor.workers[0].ready  # only busy: it gets the next ones again


def test_an_ended_worker_passes_the_connection_on_and_is_no_longer_ready(pairs: Any) -> None:
    (ended, ended_end), (alive, alive_end) = pairs(), pairs()
    ended_end.close()  # the worker process is gone
    supervisor = _supervisor(ended, alive)
    client, server = socket.socketpair()
    with client, server:
        supervisor._send(client)
    assert _dealt(alive_end) == 1
    assert not supervisor.workers[0].ready and supervisor.workers[1].ready
