"""uvicorn's httptools protocol, with the writes of one loop iteration sent together.

uvicorn writes a response's status line and headers, then its body, as two
`transport.write` calls: two `send` system calls and two TCP segments, so the client's
event loop wakes twice per answer. Under bench/api.py's order load these writes were
11 % of a worker's samples (py-spy), the largest item after the model's trees. Here the
writes made before the loop next turns are joined and sent once: a plain response
(Starlette sends its start and body without yielding) leaves in one segment.

A write waits at most until the event loop's next iteration; closing the connection
sends what is pending first, aborting it drops it (as the transport's own buffer would).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport"]


class CoalescingTransport:
    """A transport whose writes in one event-loop iteration reach the socket as one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue `data`; the queue is written when the loop next turns."""
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        # A caller may reuse a mutable buffer once write returns: keep a copy of those.
        self._pending.append(data if isinstance(data, bytes) else bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        """`write` each item."""
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Write what is queued now, in one call."""
        pending, self._pending = self._pending, []
        if not pending or self._transport.is_closing():
            return  # the peer has gone: nothing can be delivered
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        """Send what is queued, then close (the transport sends its buffer, then closes)."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Send what is queued, then half-close."""
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        """Drop what is queued and close at once."""
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # Everything else (reading, flow control, extra info) is the transport's.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the connection's transport before uvicorn sets the connection up."""
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]
