"""Background jobs on Huey, and the runtime that jobs and outbox handlers use.

One module-level ``huey`` carries every task. ``configure(settings)`` points it at its storage:
SQLite (``IHIS_JOBS_PATH``) in the embedded default, Redis when ``IHIS_REDIS_URL`` is set, or
immediate mode (tasks run synchronously, in the caller) when ``IHIS_JOBS_IMMEDIATE`` is true, as in
the tests. ``bind_runtime`` gives tasks their database, settings and outbound HTTP client.
The consumer runs in-process under ``ihis serve`` or alone under ``ihis worker``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import pkgutil
import threading
import time
from pathlib import Path
from typing import Any, Final

import httpx
import structlog
from huey import Huey
from huey.consumer import Consumer, Scheduler
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.outbox import HandlerContext
from ihis.settings import Settings

log = structlog.get_logger(__name__)

SWEEP_INTERVAL_SECONDS: Final = 30.0
SWEEP_BATCH: Final = 200
SHUTDOWN_TIMEOUT_SECONDS: Final = 10.0
# SQLite storage is polled; keep the idle poll short so an SMS code does not wait seconds.
MAX_POLL_DELAY_SECONDS: Final = 1.0
IN_PROCESS_WORKERS: Final = 2
WORKER_THREADS: Final = 4

# Results are not stored: tasks report through the database (outbox rows), never via Huey.
huey = Huey("ihis", results=False, utc=True, storage_class=MemoryStorage)
_storage_config: tuple[Any, ...] | None = None
_config_lock = threading.Lock()


def configure(settings: Settings) -> None:
    """Point ``huey`` at SQLite (default), Redis (``redis_url``) or immediate mode (``jobs_immediate``)."""
    global _storage_config
    if settings.jobs_immediate:
        config: tuple[Any, ...] = ("immediate",)
    elif settings.redis_url:
        config = ("redis", settings.redis_url)
    else:
        config = ("sqlite", str(Path(settings.jobs_path)))
    with _config_lock:
        if config == _storage_config:
            return
        old = huey.storage
        huey._immediate = config[0] == "immediate"  # set directly: we build the storage ourselves
        if config[0] == "immediate":
            huey.storage_class, huey.storage_kwargs = MemoryStorage, {}
        elif config[0] == "redis":
            huey.storage_class, huey.storage_kwargs = RedisStorage, {"url": config[1]}
        else:
            Path(config[1]).parent.mkdir(parents=True, exist_ok=True)
            huey.storage_class, huey.storage_kwargs = SqliteStorage, {"filename": config[1]}
        huey.storage = huey.get_storage(**huey.storage_kwargs)
        _storage_config = config
        if old is not huey.storage and hasattr(old, "close"):
            old.close()
    discover_task_modules()
    log.info("jobs_configured", storage=config[0])


# --- runtime ---------------------------------------------------------------------------------


class JobsRuntimeNotBound(RuntimeError):
    """A task ran before ``bind_runtime``: the process has no database/settings/HTTP for jobs."""


_runtime: HandlerContext | None = None
_owned_http: httpx.Client | None = None


def bind_runtime(database: Database, settings: Settings, http: httpx.Client | None = None) -> None:
    """Give tasks their database, settings and outbound HTTP client (default: ``outbound_client``)."""
    global _runtime, _owned_http
    previous_owned = _owned_http
    if http is None:
        from ihis.integrations.http import outbound_client

        http = _owned_http = outbound_client(settings)
    else:
        _owned_http = None
    _runtime = HandlerContext(database=database, settings=settings, http=http)
    if previous_owned is not None and previous_owned is not http:
        previous_owned.close()


def unbind_runtime() -> None:
    """Forget the runtime (and close the HTTP client it created itself)."""
    global _runtime, _owned_http
    _runtime = None
    if _owned_http is not None:
        _owned_http.close()
        _owned_http = None


def runtime() -> HandlerContext:
    """The database, settings and outbound HTTP client that tasks and outbox handlers use."""
    if _runtime is None:
        raise JobsRuntimeNotBound(
            "jobs runtime not bound: call ihis.platform.jobs.bind_runtime(database, settings, http) at "
            "startup (create_app and run_worker do)"
        )
    return _runtime


# --- tasks -----------------------------------------------------------------------------------


@huey.task()  # type: ignore[untyped-decorator]
def deliver_outbox(message_id: int) -> None:
    """Deliver one outbox message (a no-op if it is not due or another worker holds it)."""
    outbox.deliver(runtime(), message_id)


@huey.task()  # type: ignore[untyped-decorator]
def sweep_outbox() -> None:
    """Deliver due messages and expired leases (crash after commit, dead worker, retries)."""
    handled = outbox.dispatch_due(runtime(), limit=SWEEP_BATCH)
    if handled:
        log.info("outbox_swept", handled=handled)


def enqueue_delivery(message_id: int) -> None:
    """Queue the delivery of a just-committed message (runs it at once in immediate mode)."""
    deliver_outbox(message_id)


def schedule_delivery(message_id: int, at: dt.datetime) -> None:
    """Queue a retry for ``at``; in immediate mode the sweeper (or a test) re-delivers instead."""
    if huey.immediate:
        return
    delay = max(0.0, (at - utcnow()).total_seconds())
    deliver_outbox.schedule(args=(message_id,), delay=delay)


_discovered = False


def discover_task_modules() -> None:
    """Import every ``ihis.<domain>.jobs`` and ``ihis.integrations.<system>.jobs`` (tasks, handlers)."""
    global _discovered
    if _discovered:
        return
    import ihis
    import ihis.integrations

    for package in (ihis, ihis.integrations):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            name = info.name + ".jobs"
            if info.ispkg and name != __name__ and importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
    _discovered = True


# --- consumers -------------------------------------------------------------------------------


class _OutboxScheduler(Scheduler):  # type: ignore[misc]
    """Huey's scheduler, also enqueueing the outbox sweep every 30 s (crontab has minute grain)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = time.monotonic()  # sweep once at start: recover what a crash left

    def loop(self, now: Any = None) -> None:
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_INTERVAL_SECONDS
            try:
                sweep_outbox()
            except Exception:
                log.exception("outbox_sweep_enqueue_failed")
        super().loop(now)


class _IhisConsumer(Consumer):  # type: ignore[misc]
    scheduler_class = _OutboxScheduler


class _EmbeddedConsumer(_IhisConsumer):
    """Runs inside the API process: uvicorn owns the signals, so install no handlers."""

    def _set_signal_handlers(self) -> None:
        return None


def _consumer(cls: type[_IhisConsumer], workers: int, **options: Any) -> _IhisConsumer:
    return cls(
        huey,
        workers=workers,
        worker_type="thread",
        periodic=True,
        max_delay=MAX_POLL_DELAY_SECONDS,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        **options,
    )


class InProcessConsumer:
    """Handle on the consumer threads inside ``ihis serve``; ``stop()`` returns in bounded time."""

    def __init__(self, consumer: _IhisConsumer | None) -> None:
        self._consumer = consumer

    @property
    def running(self) -> bool:
        return self._consumer is not None

    def stop(self) -> None:
        """Stop the workers and the scheduler, waiting at most the shutdown timeout."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        consumer.stop(graceful=True)
        huey.notify_interrupted_tasks()
        log.info("jobs_consumer_stopped")


def start_in_process_consumer(settings: Settings) -> InProcessConsumer:
    """Start worker and scheduler threads in this process (embedded default of ``ihis serve``)."""
    configure(settings)
    if huey.immediate:
        return InProcessConsumer(None)  # tasks already run in the caller
    consumer = _consumer(_EmbeddedConsumer, IN_PROCESS_WORKERS)
    consumer.start()
    log.info("jobs_consumer_started", mode="in_process", workers=IN_PROCESS_WORKERS)
    return InProcessConsumer(consumer)


def run_worker(settings: Settings, *, workers: int = WORKER_THREADS) -> None:
    """Run the consumer in the foreground until SIGTERM (graceful) or SIGINT (``ihis worker``)."""
    from ihis.integrations.http import outbound_client
    from ihis.platform.models_registry import import_all_models

    if settings.jobs_immediate:
        raise RuntimeError("IHIS_JOBS_IMMEDIATE is set: tasks run in the caller, there is nothing to consume")
    import_all_models()
    configure(settings)
    database = Database(settings)
    http = outbound_client(settings)
    bind_runtime(database, settings, http)
    try:
        # SIGTERM (systemd stop) finishes running tasks within the shutdown timeout.
        consumer = _consumer(_IhisConsumer, workers, graceful_signal="TERM")
        log.info("jobs_consumer_started", mode="worker", workers=workers)
        consumer.run()
    finally:
        unbind_runtime()
        http.close()
        database.dispose()
