"""Factories for the HIS adapter and follow-up eligibility.

ensure_his_routes(app)                       # sandbox HIS + eligibility API, if not mounted yet
his_patient(db, visitor.id_number, [visit("v1", 30, "心血管内科", "I10")])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from fastapi import FastAPI
from sqlalchemy.orm import Session

from ihis.integrations.his.sandbox import SeedDiagnosis, SeedPatient, SeedVisit, seed_his_records

_seq = itertools.count(1)

DISEASE_NAMES = {"I10": "高血压", "I11": "高血压性心脏病", "E11": "2型糖尿病", "J45": "哮喘"}


def ensure_his_routes(app: FastAPI) -> FastAPI:
    """Mount the sandbox HIS and the eligibility API unless ``create_app`` already does."""
    from ihis.integrations.his.sandbox import router as his_router
    from ihis.registration.eligibility_api import router as eligibility_router

    paths = {getattr(r, "path", "") for r in app.router.routes}
    if "/sandbox/his/fhir/Patient" not in paths:
        app.include_router(his_router)
    if "/api/v1/me/eligibility-checks" not in paths:
        app.include_router(eligibility_router, prefix="/api/v1")
    return app


def visit(
    key: str,
    days_ago: int,
    department: str,
    icd10_who: str | None = None,
    *,
    icd10_cn: str | None = None,
    name: str | None = None,
    department_code: str = "",
    encounter_class: str = "AMB",
) -> SeedVisit:
    """One offline visit with one diagnosis."""
    code = icd10_cn or icd10_who or ""
    diagnosis = SeedDiagnosis(
        name or DISEASE_NAMES.get(code[:3], code), icd10_cn=icd10_cn, icd10_who=icd10_who
    )
    return SeedVisit(
        key=key,
        days_ago=days_ago,
        department_code=department_code or f"D{next(_seq):04d}",
        department_name=department,
        encounter_class=encounter_class,
        diagnoses=(diagnosis,) if code else (),
    )


def his_patient(db: Session, id_number: str, visits: Sequence[SeedVisit] = (), *, name: str = "测试") -> str:
    """Store one HIS patient with ``visits``; returns its FHIR id (``pat-<key>``)."""
    key = f"t{next(_seq)}"
    seed_his_records(db, [SeedPatient(key=key, id_number=id_number, name=name, visits=tuple(visits))])
    db.commit()
    return f"pat-{key}"
