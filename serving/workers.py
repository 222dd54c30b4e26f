"""`duecast serve --workers N`: N uvicorn workers, each accepting on its own socket.

uvicorn's own supervisor shares one listening socket between its workers, and Linux
wakes the worker that waited last (epoll wakes waiters last in, first out): the one that
has just answered a request. Under bench/api.py's load one worker took every kept-alive
connection (0.99 of a core against 0.00) and queued for seconds while the other idled.
Here each worker binds its own socket with SO_REUSEPORT and the kernel spreads new
connections over the sockets by a hash of each connection, whatever the workers are
doing. A worker listens only once its state is built (uvicorn starts listening after the
lifespan), so no connection waits behind a worker that is still starting or restarting.

Elsewhere than Linux (no such spreading), and for one worker, uvicorn runs as before.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from kernel.errors import ConfigurationError
from serving.http_protocol import CoalescingHttpToolsProtocol

__all__ = ["listening_sockets", "serve"]

APP = "serving.app:create_app"
_STOP_TIMEOUT_S = 30.0
# uvicorn's logger: its configuration (done by uvicorn.Config) formats these lines too.
logger = logging.getLogger("uvicorn.error")


def serve(host: str, port: int, workers: int, *, log_level: str = "warning") -> int:
    """Serve the API on host:port with `workers` processes; the exit code when they stop.

    Raises:
        ConfigurationError: something already listens on host:port.
    """
    if workers == 1 or not _spreads_connections():
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
    _check_free(host, port)
    uvicorn.Config(APP, log_level=log_level)  # configures logging, as uvicorn.run would
    return _Supervisor(host, port, workers, log_level).run()


def _spreads_connections() -> bool:
    # BSD and macOS accept SO_REUSEPORT but hand every connection to one socket.
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple]:
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, address


def _check_free(host: str, port: int) -> None:
    """A plain bind (no SO_REUSEPORT) fails while anything listens there, another
    `duecast serve` included, which a reuse-port bind would silently join."""
    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {host}:{port} ({exc.strerror}): stop what listens there, "
                "or pass another --port / --host"
            ) from exc


def _worker(host: str, port: int, log_level: str) -> None:
    """One worker process: its own reuse-port socket, bound now, listening once ready."""
    config = uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=CoalescingHttpToolsProtocol,
    )
    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    # Not listening yet: the kernel sends no connection to a bound socket that does not
    # listen; uvicorn calls listen() after the lifespan has built the serving state.
    uvicorn.Server(config).run(sockets=[sock])


class _Supervisor:
    """Starts the workers, starts a new one when one dies, stops them all on a signal."""

    def __init__(self, host: str, port: int, workers: int, log_level: str) -> None:
        self.args = (host, port, log_level)
        self.count = workers
        self.context = multiprocessing.get_context("spawn")
        self.stop = threading.Event()
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def _start(self) -> multiprocessing.process.BaseProcess:
        process = self.context.Process(target=_worker, args=self.args, daemon=False)
        process.start()
        return process

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.processes = [self._start() for _ in range(self.count)]
            code = 0
            while not self.stop.wait(0.5):
                code = self._replace_dead()
                if code:
                    break
            self._stop_all()
            return code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _replace_dead(self) -> int:
        """Start a new worker for each that died; 1 when one could not start at all."""
        for index, process in enumerate(self.processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # The app, the store or the bind is broken: every new worker would fail.
                logger.error("a worker failed to start (its log says why): stopping")
                return 1
            logger.warning(
                "worker %s ended (exit code %s): starting another", process.pid, process.exitcode
            )
            self.processes[index] = self._start()
        return 0

    def _stop_all(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes its requests, then exits
        for process in self.processes:
            process.join(_STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on `port` on this machine (Linux, from /proc): with
    one socket per worker, how many workers accept connections now."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state = fields[1], fields[3]
                count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return count
