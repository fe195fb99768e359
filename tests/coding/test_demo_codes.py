"""The demo's code subsets: loaded once, current, and covering the demo HIS's diagnoses."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.coding import editions, service
from ihis.coding.models import CodeSystem, DiagnosisCode
from ihis.demo import data, his_records
from ihis.demo.codes import ICD10, load_codes
from ihis.demo.loader import DemoLoad
from tests.factories import make_institution


def test_demo_codes_load_once_and_become_current(db: Session) -> None:
    inst = make_institution(db, code=data.INSTITUTION_CODE)
    first = DemoLoad()
    load_codes(db, first)
    count = db.scalar(
        select(func.count()).select_from(DiagnosisCode).where(DiagnosisCode.institution_id == inst.id)
    )
    assert first.created["diagnosis_code"] == count and len(ICD10) >= 38
    assert first.created["code_edition_current"] == 3
    second = DemoLoad()
    load_codes(db, second)
    assert second.created == {}
    for system in CodeSystem:
        assert editions.current_edition(db, inst.id, system) is not None


def test_demo_codes_include_every_diagnosis_of_the_demo_his(db: Session) -> None:
    inst = make_institution(db, code=data.INSTITUTION_CODE)
    load_codes(db, DemoLoad())
    current = editions.current_edition(db, inst.id, CodeSystem.ICD10)
    assert current is not None
    seeds = [v for v in vars(his_records).values() if isinstance(v, his_records.SeedDiagnosis)]
    assert len(seeds) >= 7
    for seed in seeds:
        assert service.get_code(db, current, seed.icd10_cn).name == seed.name
    for category in ("I10", "I11", "I25", "E11", "J45", "K21", "N40", "L20"):
        assert service.get_code(db, current, category).enabled
    top = [m.code.name for m in service.search(db, current, "gxy", 5)]
    assert {"高血压性心脏病", "原发性高血压"} <= set(top)
