"""Database layer: engines for SQLite and PostgreSQL, the declarative base, and the unit of work.

Services take a ``Session`` and only ``flush()``; the unit of work commits once at the edge
(HTTP request, job, CLI command) and runs the after-commit hooks (jobs, real-time events).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, ClassVar

import structlog
from sqlalchemy import BigInteger, DateTime, Engine, ForeignKey, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from ihis.platform.clock import utcnow
from ihis.settings import Settings

log = structlog.get_logger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on both databases (SQLite stores no zone; we restore UTC on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; use ihis.platform.clock.utcnow()")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


BigId = BigInteger().with_variant(Integer(), "sqlite")
IntPk = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UtcDateTime()}


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class InstitutionScoped:
    """Every business row carries its institution; queries filter by the actor's institution."""

    institution_id: Mapped[int] = mapped_column(BigId, ForeignKey("institution.id"), index=True)


# --- engines -------------------------------------------------------------------------------

_WRITE_OPTION = "ihis_write"


def _install_sqlite_behaviour(engine: Engine) -> None:
    """WAL, synchronous=FULL, foreign keys, busy timeout; BEGIN IMMEDIATE for writing work."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writing transaction takes the write lock up front, so two writers never deadlock
        # on lock upgrade; readers use a deferred BEGIN and never block in WAL mode.
        if conn.get_execution_options().get(_WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(settings: Settings) -> Engine:
    """One engine for the configured database, tuned per dialect."""
    url = settings.database_url
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///./"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=False,
        )
        _install_sqlite_behaviour(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url,
        pool_size=settings.pool_size(),
        max_overflow=settings.pool_size(),
        pool_pre_ping=True,
        pool_recycle=1800,
    )


# --- after-commit hooks ----------------------------------------------------------------------

_HOOKS = "ihis_after_commit"


def on_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run ``hook`` after the session's transaction commits; dropped if it rolls back."""
    session.info.setdefault(_HOOKS, []).append(hook)


_DEFERRED = "ihis_deferred_hooks"


def defer_after_commit_hooks(session: Session) -> list[Callable[[], None]]:
    """Collect this session's after-commit hooks in the returned list instead of running them at
    commit (the request runs them once it has left the admission gate: a hook that calls back into
    this process must not wait for a place the request still holds)."""
    deferred: list[Callable[[], None]] = []
    session.info[_DEFERRED] = deferred
    return deferred


def run_hooks(hooks: list[Callable[[], None]]) -> None:
    """Run after-commit hooks; a failure is logged, never raised (the transaction is committed)."""
    for hook in hooks:
        try:
            hook()
        except Exception:
            log.exception("after_commit_hook_failed", hook=getattr(hook, "__name__", repr(hook)))


@event.listens_for(Session, "after_commit")
def _run_after_commit_hooks(session: Session) -> None:
    hooks: list[Callable[[], None]] = session.info.pop(_HOOKS, [])
    deferred = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred.extend(hooks)
        return
    for hook in hooks:
        try:
            hook()
        except Exception:  # a failed hook must not undo a committed transaction
            log.exception("after_commit_hook_failed", hook=getattr(hook, "__name__", repr(hook)))


@event.listens_for(Session, "after_rollback")
def _drop_hooks_on_rollback(session: Session) -> None:
    session.info.pop(_HOOKS, None)


# --- the database handle and the unit of work -------------------------------------------------


class Database:
    """Engines and session factories of one process (held on ``app.state.db``)."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings)
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False, autoflush=True)
        self._write = sessionmaker(
            bind=self.engine.execution_options(**{_WRITE_OPTION: True}),
            expire_on_commit=False,
            autoflush=True,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def pool_capacity(self) -> int:
        """Connections the engine's pool hands out at most (size + overflow)."""
        pool = self.engine.pool
        size = getattr(pool, "size", None)
        overflow = getattr(pool, "_max_overflow", 0)
        return int(size() + max(overflow, 0)) if callable(size) else 1

    def session(self, *, write: bool = True) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """Commit once at the end (or roll back on error); read units always roll back.

        Audit entries that must outlive the session are appended in a short writing unit of their
        own once it is closed: the audited reads of a read unit (ARCHITECTURE principle 6; dropped
        if the unit fails, like a write unit's), and the security events queued with
        ``audit.record_independent(..., after=session)``, kept whatever the outcome.
        """
        from ihis.platform import audit  # imported here: the audit model imports this module

        session = self.session(write=write)
        late: list[dict[str, Any]] = []
        failed = False
        try:
            yield session
            if write:
                session.commit()
            else:
                late = audit.take_staged(session)
                session.rollback()
        except BaseException:
            failed = True
            session.rollback()
            raise
        finally:
            late += audit.take_independent(session)
            session.close()
            # On failure the original error wins; a failed late write is then only logged.
            audit.write_late(self, late, raising=not failed)

    def dispose(self) -> None:
        self.engine.dispose()
