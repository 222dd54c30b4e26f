"""`duecast serve --workers N`: N uvicorn workers, connections dealt to them in turn.

uvicorn's own supervisor shares one listening socket between its workers, and Linux
wakes the worker that waited last (epoll wakes waiters last in, first out): the one that
has just answered a request. Under bench/api.py's load one worker took every kept-alive
connection (0.99 of a core against 0.00) and queued for seconds while the other idled.
One `SO_REUSEPORT` socket per worker spreads connections by a hash instead, and a hash
is rarely even over the few connections an order system keeps: 16 connections were
split 10/6 (0.84 of a core against 0.46), and the busier worker queued for seconds.

Here the supervisor holds the one listening socket and deals each new connection to the
next ready worker in turn (as Node.js's cluster module does), over a Unix socket
(`SCM_RIGHTS`); the worker serves it as if it had accepted it. 16 connections are split
8/8. The supervisor listens once every worker has built its state (a worker reports it
after uvicorn's lifespan), so no connection waits behind a worker still starting; a
worker that dies is replaced and gets connections again once ready. Its connections end
with it, as they would with uvicorn's workers.

Elsewhere than Linux, and for one worker, uvicorn runs as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import selectors
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from kernel.errors import ConfigurationError
from serving.http_protocol import CoalescingHttpToolsProtocol

__all__ = ["serve"]

APP = "serving.app:create_app"
_STOP_TIMEOUT_S = 30.0
_READY = b"R"  # a worker's word to the supervisor: its state is built
_BACKLOG = 2048
# uvicorn's logger: its configuration (done by uvicorn.Config) formats these lines too.
logger = logging.getLogger("uvicorn.error")


def serve(host: str, port: int, workers: int, *, log_level: str = "warning") -> int:
    """Serve the API on host:port with `workers` processes; the exit code when they stop.

    Raises:
        ConfigurationError: something already listens on host:port.
    """
    if workers == 1 or not _deals_connections():
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            http=CoalescingHttpToolsProtocol,
        )
        return 0
    listener = _bind(host, port)
    uvicorn.Config(APP, log_level=log_level)  # configures logging, as uvicorn.run would
    with listener:
        return _Supervisor(listener, workers, log_level).run()


def _deals_connections() -> bool:
    # Passing a socket to another process (SCM_RIGHTS) is POSIX; served on Linux here.
    return sys.platform == "linux" and hasattr(socket, "send_fds")


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now (listening later): a port in use is refused at once."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port} ({exc.strerror}): stop what listens there, "
            "or pass another --port / --host"
        ) from exc
    return sock


# -- a worker ----------------------------------------------------------------------------


def _worker(control: socket.socket, log_level: str) -> None:
    """One worker process: serves the connections the supervisor sends over `control`."""
    config = uvicorn.Config(
        APP,
        factory=True,
        log_level=log_level,
        access_log=False,
        http=CoalescingHttpToolsProtocol,
    )
    _DealtServer(config, control).run()


class _DealtServer(uvicorn.Server):
    """A uvicorn server without a listening socket: it serves the connections it is sent."""

    def __init__(self, config: uvicorn.Config, control: socket.socket) -> None:
        super().__init__(config)
        self.control = control

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start (the lifespan builds the state), then report ready."""
        await super().startup(sockets=[])  # none to listen on; exits if the lifespan fails
        loop = asyncio.get_running_loop()
        self.control.setblocking(False)
        loop.add_reader(self.control.fileno(), self._receive, loop)
        self.control.sendall(_READY)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Take no more connections (the supervisor hears it), then uvicorn's graceful
        shutdown."""
        asyncio.get_running_loop().remove_reader(self.control.fileno())
        with contextlib.suppress(OSError):
            self.control.shutdown(socket.SHUT_WR)  # the supervisor deals to the others
        await super().shutdown(sockets)

    def _receive(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            message, fds, _, _ = socket.recv_fds(self.control, 64, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message, fds = b"", []
        if not message:  # the supervisor is gone: nobody deals connections any more
            loop.remove_reader(self.control.fileno())
            self.should_exit = True
            return
        for fd in fds:
            loop.create_task(self._adopt(loop, socket.socket(fileno=fd)))

    async def _adopt(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._protocol, conn)
        except OSError:  # the client left while the connection was being handed over
            conn.close()

    def _protocol(self) -> asyncio.Protocol:
        # What uvicorn's own `startup` builds for each connection it accepts.
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )


# -- the supervisor ----------------------------------------------------------------------


@dataclass(eq=False)
class _Process:
    """A worker process, the supervisor's end of its control socket, and its readiness."""

    process: multiprocessing.process.BaseProcess
    control: socket.socket
    ready: bool = False


class _Supervisor:
    """Starts the workers, deals them connections, replaces one that dies, stops them all
    on a signal."""

    def __init__(self, listener: socket.socket, workers: int, log_level: str) -> None:
        self.listener = listener
        self.log_level = log_level
        self.count = workers
        self.context = multiprocessing.get_context("spawn")
        self.stop = threading.Event()
        self.selector = selectors.DefaultSelector()
        self.workers: list[_Process] = []
        self.listening = False
        self.turn = 0

    def _start(self) -> _Process:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = self.context.Process(target=_worker, args=(theirs, self.log_level), daemon=False)
        process.start()
        theirs.close()
        ours.setblocking(False)  # a worker that stops reading must not stall the others
        worker = _Process(process, ours)
        self.selector.register(ours, selectors.EVENT_READ, worker)
        return worker

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.workers = [self._start() for _ in range(self.count)]
            code = 0
            while not code:
                for key, _ in self.selector.select(timeout=0.5):
                    if key.data is None:
                        self._deal()
                    else:
                        self._hear(key.data)
                if self.stop.is_set():  # before replacing: the workers stop on a signal too
                    break
                code = self._replace_dead()
            return code
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _hear(self, worker: _Process) -> None:
        """A worker's report (ready), or the end of its control socket (it ended)."""
        try:
            said = worker.control.recv(16)
        except OSError:
            said = b""
        if not said:
            worker.ready = False
            self._forget(worker)
            return
        worker.ready = worker.ready or _READY in said
        if not self.listening and all(w.ready for w in self.workers):
            # Every worker's state is built: connections may come now.
            self.listener.listen(_BACKLOG)
            self.listener.setblocking(False)
            self.selector.register(self.listener, selectors.EVENT_READ, None)
            self.listening = True

    def _deal(self) -> None:
        """Accept what waits and send each connection to the next ready worker."""
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, a connection aborted
                logger.warning("could not accept a connection: %s", exc)
                return
            with conn:
                self._send(conn)

    def _send(self, conn: socket.socket) -> None:
        for _ in range(len(self.workers)):
            worker = self.workers[self.turn % len(self.workers)]
            self.turn += 1
            if not worker.ready:
                continue
            try:
                socket.send_fds(worker.control, [b"c"], [conn.fileno()])
            except BlockingIOError:  # its queue is full: the next one takes this one
                continue
            except OSError:  # it has just ended: the next one takes the connection
                worker.ready = False
                continue
            return
        # No worker ready (all restarting): closed, the client connects again.

    def _replace_dead(self) -> int:
        """Start a new worker for each that died; 1 when one could not start at all."""
        for index, worker in enumerate(self.workers):
            if worker.process.is_alive():
                continue
            worker.process.join()
            worker.ready = False
            self._forget(worker)
            worker.control.close()
            if worker.process.exitcode == STARTUP_FAILURE:
                # The app or the store is broken: every new worker would fail.
                logger.error("a worker failed to start (its log says why): stopping")
                return 1
            logger.warning(
                "worker %s ended (exit code %s): starting another",
                worker.process.pid,
                worker.process.exitcode,
            )
            self.workers[index] = self._start()
        return 0

    def _forget(self, worker: _Process) -> None:
        with contextlib.suppress(KeyError, ValueError):  # already forgotten, or closed
            self.selector.unregister(worker.control)

    def _stop_all(self) -> None:
        self.listener.close()  # no new connection: the workers finish theirs
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: uvicorn finishes its requests, exits
        for worker in self.workers:
            worker.process.join(_STOP_TIMEOUT_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.control.close()
        self.selector.close()
