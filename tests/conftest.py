"""Test harness: one database per run (SQLite file or a throwaway PostgreSQL cluster), each test
inside its own outer transaction that is rolled back at the end (services' commits become
savepoint releases), and an HTTP client bound to that same transaction.

Choose the database with ``IHIS_TEST_DB=sqlite`` (default) or ``IHIS_TEST_DB=postgres``; with
``IHIS_TEST_DATABASE_URL`` set, that PostgreSQL is used instead of a throwaway cluster.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from ihis.platform.db import Database, make_engine
from ihis.settings import Environment, Settings
from tests.support.pg import throwaway_postgres
from tests.support.schema import create_schema


def _backend() -> str:
    return os.environ.get("IHIS_TEST_DB", "sqlite")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if _backend() == "postgres":
        explicit = os.environ.get("IHIS_TEST_DATABASE_URL")
        if explicit:
            yield explicit
            return
        # Not under pytest's 0700 tmp dir: the postgres user must be able to reach it.
        with throwaway_postgres(Path(tempfile.mkdtemp(prefix="ihis-pg-"))) as url:
            yield url
    else:
        path: Path = tmp_path_factory.mktemp("db") / "ihis-test.db"
        yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for tests of the Redis-backed paths (fan-out, rate limits, job queue)."""
    from tests.support.redis import throwaway_redis

    with throwaway_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def base_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        jobs_immediate=True,
        run_worker_in_process=False,
        jobs_path=str(tmp_path_factory.mktemp("jobs") / "jobs.db"),
        web_dist_dir=str(tmp_path_factory.mktemp("web")),
        log_json=True,
    )


@pytest.fixture(scope="session")
def engine(base_settings: Settings) -> Iterator[Engine]:
    from ihis.platform import crypto

    crypto.configure(base_settings)
    eng = make_engine(base_settings)
    create_schema(eng)
    yield eng
    eng.dispose()


class TransactionalDatabase(Database):
    """A Database whose sessions all live inside one test's outer transaction."""

    def __init__(self, settings: Settings, engine: Engine, connection: Connection) -> None:
        super().__init__(settings, engine)
        self.connection = connection

    def session(self, *, write: bool = True) -> Session:
        return Session(
            bind=self.connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=True,
        )


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """Per-test settings; override with ``settings.model_copy(update=...)`` in a test."""
    return base_settings


@pytest.fixture
def database(settings: Settings, engine: Engine) -> Iterator[TransactionalDatabase]:
    connection = engine.connect()
    outer = connection.begin()
    tdb = TransactionalDatabase(settings, engine, connection)
    from ihis.platform import jobs

    # Jobs run immediately (settings.jobs_immediate) against this test's transaction. Without the
    # `app` fixture there is no sandbox to talk to, so outbound HTTP fails loudly.
    jobs.configure(settings)
    jobs.bind_runtime(tdb, settings, _no_outbound_http())
    try:
        yield tdb
    finally:
        jobs.unbind_runtime()
        if outer.is_active:
            outer.rollback()
        connection.close()


def _no_outbound_http() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"outbound HTTP to {request.url.host} in a test without the `app` fixture")

    return httpx.Client(transport=httpx.MockTransport(refuse))


@pytest.fixture
def db(database: TransactionalDatabase) -> Iterator[Session]:
    """A session for arranging and asserting data directly (flush; commits are savepoints)."""
    session = database.session()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def app(settings: Settings, database: TransactionalDatabase):  # type: ignore[no-untyped-def]
    from ihis.app import create_app
    from ihis.platform import jobs

    application = create_app(settings, database=database)
    # Integration adapters called from jobs reach the sandboxes served by this very app: a
    # TestClient is an httpx.Client that routes every URL (any host) into the app, so adapters run
    # their real HTTP code path against http://testserver/sandbox/... within this test's transaction.
    jobs.bind_runtime(database, settings, TestClient(application, base_url="http://testserver"))
    return application


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def anon(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A second, never-logged-in client."""
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def pytest_report_header(config: pytest.Config) -> str:
    return f"ihis test database: {_backend()}"


@pytest.fixture(autouse=True)
def _fresh_login_ip_counts() -> Iterator[None]:
    """Per-IP login counters live in process memory; no test inherits another's failures."""
    from ihis.identity import throttle

    throttle.reset_ip_counts()
    yield
    throttle.reset_ip_counts()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that really commit (marker ``commits``: concurrency on separate connections) run after
    all the others, so that rows they leave behind never meet a rolled-back test counting rows."""
    items.sort(key=lambda item: item.get_closest_marker("commits") is not None)
