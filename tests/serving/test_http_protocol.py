"""The coalescing HTTP protocol: one socket write per response, nothing lost or reordered."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from serving import http_protocol
from serving.http_protocol import CoalescingTransport
from tests.utils.net import served_in_thread


class _Transport:
    """Records what reaches the socket."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("eof", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def _turn() -> None:
    await asyncio.sleep(0)  # call_soon callbacks queued before this run first


def test_writes_of_one_iteration_leave_in_one_write() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        inner = _Transport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"")
        transport.writelines([b"body", memoryview(b"!")])
        assert inner.calls == []  # nothing before the loop turns
        await _turn()
        transport.write(b"next")
        await _turn()
        return inner.calls

    calls = asyncio.run(scenario())
    assert calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody!"), ("write", b"next")]


def test_a_reused_buffer_is_sent_as_it_was_when_written() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        inner = _Transport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        buffer = bytearray(b"first")
        transport.write(buffer)
        buffer[:] = b"later"
        await _turn()
        return inner.calls

    assert asyncio.run(scenario()) == [("write", b"first")]


def test_close_sends_what_is_pending_first_and_abort_drops_it() -> None:
    async def scenario() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
        loop = asyncio.get_running_loop()
        closed, aborted = _Transport(), _Transport()
        one = CoalescingTransport(closed, loop)  # type: ignore[arg-type]
        one.write(b"last answer")
        one.close()
        two = CoalescingTransport(aborted, loop)  # type: ignore[arg-type]
        two.write(b"never sent")
        two.abort()
        await _turn()  # the flushes scheduled by the writes find nothing left
        return closed.calls, aborted.calls

    closed, aborted = asyncio.run(scenario())
    assert closed == [("write", b"last answer"), ("close", b"")]
    assert aborted == [("abort", b"")]


def test_write_eof_sends_what_is_pending_first_and_the_rest_is_the_transports() -> None:
    async def scenario() -> tuple[list[tuple[str, bytes]], str]:
        inner = _Transport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"end")
        transport.write_eof()
        return inner.calls, transport.get_extra_info("peername")

    calls, info = asyncio.run(scenario())
    assert calls == [("write", b"end"), ("eof", b"")]
    assert info == "info:peername"


def test_nothing_is_written_once_the_peer_has_gone() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        inner = _Transport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"too late")
        inner.closing = True  # connection lost before the loop turned
        await _turn()
        return inner.calls

    assert asyncio.run(scenario()) == []


# -- on a real uvicorn server ------------------------------------------------------------


async def _plain(_request: Request) -> Response:
    return PlainTextResponse("plain")


async def _stream(_request: Request) -> Response:
    async def chunks() -> Iterator[bytes]:  # type: ignore[misc]
        for part in (b"one,", b"two,", b"three"):
            yield part
            await asyncio.sleep(0.01)  # separate iterations: separate writes

    return StreamingResponse(chunks(), media_type="text/plain")


@pytest.fixture
def server_port() -> Iterator[int]:
    app = Starlette(routes=[Route("/plain", _plain), Route("/stream", _stream)])
    with served_in_thread(app) as port:
        yield port


def test_each_plain_response_is_one_socket_write(
    server_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    flush = http_protocol.CoalescingTransport.flush

    def counted(self: CoalescingTransport) -> None:
        writes.append(len(self._pending))
        flush(self)

    monkeypatch.setattr(http_protocol.CoalescingTransport, "flush", counted)
    conn = http.client.HTTPConnection("127.0.0.1", server_port, timeout=10)
    try:
        for _ in range(3):  # kept alive: the same connection answers each
            conn.request("GET", "/plain")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"plain")
        conn.request("GET", "/stream")
        response = conn.getresponse()
        assert response.read() == b"one,two,three"
        conn.request("GET", "/plain", headers={"Connection": "close"})
        response = conn.getresponse()
        assert response.read() == b"plain"  # written before the server closed
    finally:
        conn.close()
    # Status line and headers joined with the body (uvicorn writes them apart): one write
    # each, and more than one piece in it.
    assert writes[:3] == [2, 2, 2]
    assert len(writes) > 4  # the stream's chunks went out as they came
