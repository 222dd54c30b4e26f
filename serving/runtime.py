"""The worker's live state: which `ServingState` requests use, kept current and swappable.

Requests read `Runtime.current()`, which

- applies change-log rows written by any worker since the last request (one indexed
  read when nothing changed; the named customers are reloaded otherwise). The request
  that finds new rows waits for them; requests arriving meanwhile are served from the
  state as it is (at most one refresh behind), and write routes catch up before they
  answer, so a client sees its own writes on its next request;
- starts a background rebuild when a new model was promoted through any worker, or the
  day changed (unless the serving date is pinned); the old state keeps serving until the
  new one is complete, then one reference is swapped, so no request is dropped or sees
  half a model.

A bundle that fails its checks (`training.bundle.load_bundle`) never takes the worker
down: at start the app runs not ready (503 with the reason), on reload the old model
keeps serving and the failure shows in /readyz (`last_reload_error`) and /metrics
(`duecast_model_reload_failures_total`, `duecast_model_ready`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import math
import threading

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from starlette.concurrency import run_in_threadpool

from features.changes import ChangeWatcher, log_change
from features.store import change_log
from kernel.config import Settings
from kernel.errors import DuecastError, ModelNotFoundError, StoreError
from serving.auth import APIKEY_CHANGE
from serving.loader import checked_model, load_state, serving_date
from serving.state import ServingState
from training.bundle import Bundle

__all__ = ["Runtime"]

logger = logging.getLogger(__name__)

# Defined here, not with the request metrics: they describe the model this worker serves.
# "liveall": one sample per live worker, so a worker that failed its reload shows.
RELOAD_FAILURES = Counter(
    "duecast_model_reload_failures_total",
    "Model loads (reload or background rebuild) that failed; the old model kept serving",
)
MODEL_READY = Gauge(
    "duecast_model_ready",
    "1 when this worker serves a model, 0 when it is not ready",
    multiprocess_mode="liveall",
)
MODEL_VERSION = Gauge(
    "duecast_model_version",
    "Version of the model this worker serves (NaN: none, or not a number)",
    multiprocess_mode="liveall",
)
CUSTOMERS_NOT_SERVED = Gauge(
    "duecast_customers_not_served",
    "Customers this worker cannot serve (unreadable stored rows); they answer 503",
    multiprocess_mode="liveall",
)


class Runtime:
    """The state one worker serves from, with its refresh and reload logic."""

    def __init__(self, settings: Settings, engine: sa.Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.state: ServingState | None = None
        self.error: str | None = None
        # Raised (with `error`) by requests while no model is loaded: BundleError says
        # the bundle is there but damaged, ModelNotFoundError that there is none.
        self.error_class: type[ModelNotFoundError] = ModelNotFoundError
        # Why the last reload or background rebuild failed (None once one succeeds).
        self.last_reload_error: str | None = None
        self._sync_lock = asyncio.Lock()
        self._build_lock = threading.Lock()
        self._rebuild: asyncio.Task | None = None
        self._watcher = ChangeWatcher(engine)
        # The change-log position up to which key revocations were looked for.
        self._keys_seq: int | None = None

    def build(self, bundle: Bundle | None = None) -> ServingState:
        """Load the model (unless given) and build a complete state (blocking; seconds).

        Raises:
            ModelNotFoundError: the model cannot be loaded.
            StoreError: the store cannot be read.
        """
        with self._build_lock:
            state = load_state(self.settings, engine=self.engine, bundle=bundle)
            # The state is millions of long-lived objects: move them out of the cyclic
            # garbage collector's reach, or every full collection walks them all and
            # stalls requests (an old state's objects stay frozen; it is one copy).
            gc.collect()
            gc.freeze()
            return state

    def load(self) -> None:
        """Build the first state; without a usable model the app runs but is not ready."""
        try:
            self.state = self.build()
            self.error = None
        except ModelNotFoundError as exc:
            self.error, self.error_class = str(exc), type(exc)
            logger.warning("No model loaded: %s", exc)
        except Exception as exc:  # whatever it is, the process stays up and says why
            self.error = f"the serving state could not be built: {type(exc).__name__}: {exc}"
            logger.exception("No model loaded")
        self._publish()

    def _publish(self) -> None:
        """Set the model gauges from the state served now."""
        state = self.state
        MODEL_READY.set(0 if state is None else 1)
        try:
            version = float(state.bundle.model_version) if state is not None else math.nan
        except ValueError:
            version = math.nan
        MODEL_VERSION.set(version)
        CUSTOMERS_NOT_SERVED.set(0 if state is None else len(state.failed))

    def _reload_failed(self, exc: BaseException) -> None:
        RELOAD_FAILURES.inc()
        self.last_reload_error = f"{type(exc).__name__}: {exc}"
        if self.state is None:
            self.error = str(exc)
            if isinstance(exc, ModelNotFoundError):
                self.error_class = type(exc)

    async def current(self, latest: int | None = None) -> ServingState:
        """The state to serve this request from, with every change seen so far applied
        (up to `latest`, the change-log position this request already read, if given).

        Raises:
            ModelNotFoundError: no model is loaded (503).
        """
        state = self.state
        if state is None:
            raise self.error_class(self.error or "no model loaded")
        if (
            self.settings.serve_as_of is None
            and serving_date(None) != state.as_of
            and not self._rebuilding()
        ):
            self._start_rebuild("a new day")
        try:
            latest = self._watcher.latest() if latest is None else latest
        except Exception as exc:  # the database is down: answer from memory, /readyz says so
            logger.warning("Change log unreadable, serving the state as it is: %s", exc)
            return state
        if state.pending(latest):
            if self._sync_lock.locked():
                # Another request is applying these changes (a few hundred ms per
                # customer): serve the state as it is rather than queue behind it.
                return state
            await self.catch_up()
            # The state may have been swapped meanwhile; a loaded state is only ever
            # replaced by another, never removed.
            state = self.state
            assert state is not None
        # Otherwise nothing was awaited since `state` was read: it is still `self.state`.
        return state

    async def catch_up(self) -> None:
        """Apply every change-log row written so far (waits for a sync in progress).

        Write routes call it before answering, so the writer's next request is current.
        """
        async with self._sync_lock:
            state = self.state
            if state is None or not state.pending(self._watcher.latest()):
                return
            model_changed = await run_in_threadpool(state.sync, self.engine)
            self._publish()  # a refreshed customer may have become unservable, or servable
            if model_changed and not self._rebuilding():
                self._start_rebuild("a new model, or a large import")

    def position(self) -> int | None:
        """The change log's position now, or None when it cannot be read (event loop only)."""
        try:
            return self._watcher.latest()
        except Exception as exc:  # the database is down: cached keys keep answering
            logger.warning("Change log unreadable, key revocations not checked: %s", exc)
            return None

    def keys_revoked(self, latest: int) -> bool:
        """Whether a key was revoked through any worker (a change-log row of kind "apikey")
        between the last call's position and `latest`; the first call only takes it."""
        seen = self._keys_seq
        if seen is None or latest <= seen:
            self._keys_seq = latest
            return False
        try:
            # Only when the log moved (a write), and a short range of the primary key.
            with self.engine.connect() as conn:
                found = conn.execute(
                    sa.select(change_log.c.seq)
                    .where(change_log.c.seq > seen, change_log.c.kind == APIKEY_CHANGE)
                    .limit(1)
                ).first()
        except sa.exc.SQLAlchemyError as exc:  # asked again on the next request
            logger.warning("Change log unreadable, key revocations not checked: %s", exc)
            return False
        self._keys_seq = latest
        return found is not None

    def _rebuilding(self) -> bool:
        return self._rebuild is not None and not self._rebuild.done()

    def _start_rebuild(self, why: str) -> None:
        logger.info("Rebuilding the serving state in the background: %s", why)
        self._rebuild = asyncio.get_running_loop().create_task(self._rebuild_now())

    async def _rebuild_now(self) -> None:
        try:
            fresh = await run_in_threadpool(self.build)
        except Exception as exc:  # keep serving the old state; the next trigger retries
            logger.exception("Rebuilding the serving state failed; the old state stays")
            self._reload_failed(exc)
            return
        self.state = fresh  # one reference: requests see the old or the new state, whole
        self.error = self.last_reload_error = None
        self._publish()

    async def reload(self) -> tuple[str | None, ServingState]:
        """Load the champion again now and tell every other worker to do the same.

        Returns:
            The previous model version (None if none was loaded) and the new state.

        Raises:
            ModelNotFoundError: there is no champion bundle, or (BundleError) it fails
                its checks; the old state stays (503 with the reason).
            StoreError: the store cannot be read; the old state stays.
        """
        previous = None if self.state is None else self.state.bundle.model_version
        try:
            # Checked before other workers are told: a bad bundle stops here.
            bundle = await run_in_threadpool(checked_model, self.settings)
            # Logged next: the new state starts from this position, other workers see it.
            await run_in_threadpool(self._announce_model)
            fresh = await run_in_threadpool(self.build, bundle)
        except DuecastError as exc:
            logger.error("Reload failed, the old model stays: %s", exc)
            self._reload_failed(exc)
            raise
        except Exception as exc:
            logger.exception("Reload failed, the old model stays")
            self._reload_failed(exc)
            raise StoreError(
                f"the reload failed ({type(exc).__name__}): the old model stays; check the "
                "database and the logs, then reload again"
            ) from exc
        self.state = fresh
        self.error = self.last_reload_error = None
        self._publish()
        logger.info("Reloaded model %s (was %s)", fresh.bundle.model_version, previous)
        return previous, fresh

    def _announce_model(self) -> None:
        with self.engine.begin() as conn:
            log_change(conn, customer_id=None, kind="model")

    def close(self) -> None:
        """Release the change watcher's connection (app shutdown)."""
        self._watcher.close()

    def database_ok(self) -> str | None:
        """None when the database answers, else the reason."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return f"database unreachable: {type(exc).__name__}"
        return None

    @staticmethod
    def today() -> dt.date:
        """Today (UTC)."""
        return serving_date(None)
