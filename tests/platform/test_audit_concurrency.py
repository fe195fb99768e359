"""Concurrent writers append to one unbroken chain (separate connections, real commits)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete, func, select, text

from ihis.platform.audit import AuditContext, AuditEvent, install_db_guards, record, verify_chain
from ihis.platform.db import Database
from ihis.settings import Settings

pytestmark = pytest.mark.commits

WRITERS = 8
APPENDS = 10


@pytest.fixture
def committed(base_settings: Settings, engine: Engine) -> Iterator[tuple[Database, int]]:
    """A Database that really commits; the entries it appended are removed afterwards."""
    database = Database(base_settings)
    with database.unit_of_work(write=False) as db:
        start = int(db.scalar(select(func.max(AuditEvent.seq))) or 0)
    try:
        yield database, start
    finally:
        with database.unit_of_work() as db:
            postgres = db.get_bind().dialect.name == "postgresql"
            if postgres:
                db.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            else:
                db.execute(text("DROP TRIGGER audit_event_no_delete"))
            db.execute(delete(AuditEvent).where(AuditEvent.seq > start))
            if postgres:
                db.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
            else:
                install_db_guards(db.connection())
        database.dispose()


def test_concurrent_commits_append_to_one_contiguous_chain(committed: tuple[Database, int]) -> None:
    database, start = committed
    gate = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        ctx = AuditContext(
            actor_id=n, actor_role="doctor", actor_name=None, institution_id=None, ip=None, user_agent=None
        )
        gate.wait(timeout=10)
        for i in range(APPENDS):
            with database.unit_of_work() as db:
                record(db, ctx, "test.concurrent", resource_type="test", resource_id=f"{n}-{i}")

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(writer, range(WRITERS)))  # re-raises any writer's error

    with database.unit_of_work(write=False) as db:
        seqs = list(db.scalars(select(AuditEvent.seq).where(AuditEvent.seq > start).order_by(AuditEvent.seq)))
        resources = set(db.scalars(select(AuditEvent.resource_id).where(AuditEvent.seq > start)))
        report = verify_chain(db)
    assert seqs == list(range(start + 1, start + 1 + WRITERS * APPENDS))
    assert len(resources) == WRITERS * APPENDS
    assert report.ok, report.describe()
