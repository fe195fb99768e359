"""`run_worker` (what `ihis worker` runs) consumes in its own process and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ihis.platform import jobs, outbox
from ihis.platform.db import Database, make_engine
from ihis.platform.outbox import HandlerContext, OutboxMessage
from ihis.settings import Environment, Settings
from tests.support.schema import create_schema

TOPIC = "test.worker.touch"
REPO_ROOT = Path(__file__).resolve().parents[2]

# The worker process imports this module, so the handler below is registered there.
WORKER_SCRIPT = (
    "import tests.platform.test_jobs_worker\n"
    "from ihis.platform import crypto, jobs\n"
    "from ihis.platform.logging import configure_logging\n"
    "from ihis.settings import Settings\n"
    "settings = Settings()\n"
    "configure_logging(settings.log_level, settings.log_json)\n"
    "crypto.configure(settings)\n"
    "jobs.run_worker(settings, workers=2)\n"
)


@outbox.handler(TOPIC)
def _touch(ctx: HandlerContext, payload: dict[str, Any]) -> None:
    Path(payload["marker"]).write_text(str(os.getpid()))


@pytest.fixture
def worker_settings(tmp_path: Path, base_settings: Settings) -> Iterator[Settings]:
    settings = Settings(
        env=Environment.TEST,
        database_url=f"sqlite:///{tmp_path / 'worker.db'}",
        jobs_path=str(tmp_path / "jobs.db"),
        jobs_immediate=False,
    )
    engine = make_engine(settings)
    create_schema(engine)
    engine.dispose()
    try:
        yield settings
    finally:
        jobs.configure(base_settings)


def _environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        IHIS_ENV="test",
        IHIS_DATABASE_URL=settings.database_url,
        IHIS_JOBS_PATH=settings.jobs_path,
        IHIS_JOBS_IMMEDIATE="false",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
    )
    env.pop("IHIS_REDIS_URL", None)
    return env


def _statuses(database: Database) -> list[str]:
    with database.unit_of_work(write=False) as db:
        return list(db.scalars(select(OutboxMessage.status)))


def test_worker_process_delivers_emitted_events_and_exits_on_sigterm(
    worker_settings: Settings, tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT],
            cwd=REPO_ROOT,
            env=_environment(worker_settings),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        # The API side: emit in a business transaction; after commit it is queued in the shared
        # SQLite job store, where the separate worker process picks it up.
        jobs.configure(worker_settings)
        database = Database(worker_settings)
        marker = tmp_path / "delivered"
        with database.unit_of_work() as db:
            outbox.emit(db, TOPIC, {"marker": str(marker)})
        deadline = time.monotonic() + 30  # a cold interpreter start on a loaded CI host
        while _statuses(database) != [outbox.DONE]:
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        assert marker.read_text() == str(worker.pid), "delivered by the worker process, not by us"
        database.dispose()

        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0, log_path.read_text()
        assert time.monotonic() - started < 5
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
