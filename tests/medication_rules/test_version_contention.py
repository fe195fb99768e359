"""Concurrent changes never share a knowledge-base version (separate connections, real commits)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete, select

from ihis.medication_rules.models import RxKnowledgeEntry, RxKnowledgeVersion
from ihis.medication_rules.service import Writer, load_knowledge_base, replace_all
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict
from ihis.settings import Settings
from ihis.tenancy.models import Institution

pytestmark = pytest.mark.commits

CONTENDERS = 8


@pytest.fixture
def committed_institution(base_settings: Settings, engine: Engine) -> Iterator[tuple[Database, int]]:
    database = Database(base_settings)
    with database.unit_of_work() as db:
        inst = Institution(
            code=f"KB{utcnow().timestamp():.0f}", name="知识库并发测试医院", registered_subjects="03.01"
        )
        db.add(inst)
        db.flush()
        inst_id = inst.id
    try:
        yield database, inst_id
    finally:
        with database.unit_of_work() as db:
            db.execute(delete(RxKnowledgeEntry).where(RxKnowledgeEntry.institution_id == inst_id))
            db.execute(delete(RxKnowledgeVersion).where(RxKnowledgeVersion.institution_id == inst_id))
            db.execute(delete(Institution).where(Institution.id == inst_id))
        database.dispose()


def test_concurrent_changes_claim_distinct_consecutive_versions(
    committed_institution: tuple[Database, int],
) -> None:
    database, inst_id = committed_institution
    gate = threading.Barrier(CONTENDERS)

    def change(n: int) -> int | None:
        entry = ("indication", {"code": f"class{n}", "icd10": ["I10-I15"]})
        gate.wait(timeout=30)
        try:
            with database.unit_of_work(write=True) as db:
                return replace_all(db, inst_id, Writer(None, f"writer{n}"), [entry])
        except Conflict:
            return None

    with ThreadPoolExecutor(CONTENDERS) as pool:
        results = list(pool.map(change, range(CONTENDERS)))
    won = sorted(v for v in results if v is not None)
    assert won and won == list(range(1, len(won) + 1))
    with database.unit_of_work() as db:
        versions = db.scalars(
            select(RxKnowledgeVersion.version).where(RxKnowledgeVersion.institution_id == inst_id)
        )
        assert sorted(versions) == won
        kb = load_knowledge_base(db, inst_id)
        assert kb.version == won[-1] and len(kb.indications) == 1
