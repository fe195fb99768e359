"""The demo hospital's offline history in the sandbox HIS: visits and diagnoses of the demo people.

Dates are relative to the day the demo is loaded, so the cases below hold on that day:

| person | HIS history | follow-up check |
|---|---|---|
| 张三 | 心血管内科 I10 30 days ago; 内分泌科 E11 60 days ago | eligible in both |
| 李四 | 心血管内科 I10 200 days ago only | not eligible: last visit older than 180 days |
| 冯雪 | no HIS record at all | not eligible: no record (upload path) |
| others | one recent chronic diagnosis in the matching department | eligible there |

``seed_demo_his_records(db)`` is idempotent (FHIR ids are derived from the names below).
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from ihis.demo import data
from ihis.integrations.his.sandbox import SeedDiagnosis, SeedPatient, SeedVisit, seed_his_records

_DEPARTMENT_CODES = {d.name: d.subject_code for d in data.DEPARTMENTS}

HYPERTENSION = SeedDiagnosis("原发性高血压", icd10_cn="I10.x00x002", icd10_who="I10")
DIABETES = SeedDiagnosis("2型糖尿病", icd10_cn="E11.900", icd10_who="E11.9")
ASTHMA = SeedDiagnosis("支气管哮喘", icd10_cn="J45.900", icd10_who="J45.9")
REFLUX = SeedDiagnosis("胃食管反流病", icd10_cn="K21.900", icd10_who="K21.9")
PROSTATE = SeedDiagnosis("前列腺增生", icd10_cn="N40.x00", icd10_who="N40")
DERMATITIS = SeedDiagnosis("特应性皮炎", icd10_cn="L20.900", icd10_who="L20.9")
ISCHAEMIC = SeedDiagnosis("慢性缺血性心脏病", icd10_cn="I25.900", icd10_who="I25.9")

# name -> [(visit key, days ago, department, class, diagnosis)]
_HISTORY: dict[str, list[tuple[str, int, str, str, SeedDiagnosis]]] = {
    "张三": [("v1", 30, "心血管内科", "AMB", HYPERTENSION), ("v2", 60, "内分泌科", "AMB", DIABETES)],
    "李梅": [("v1", 45, "消化内科", "AMB", REFLUX)],
    "张小宝": [("v1", 20, "呼吸内科", "AMB", ASTHMA)],
    "李四": [("v1", 200, "心血管内科", "AMB", HYPERTENSION)],
    "李老太": [("v1", 90, "心血管内科", "IMP", ISCHAEMIC)],
    "王芳": [("v1", 15, "皮肤科", "AMB", DERMATITIS)],
    "赵磊": [("v1", 100, "泌尿外科", "AMB", PROSTATE)],
    "赵一诺": [("v1", 40, "呼吸内科", "AMB", ASTHMA)],
    "孙丽": [("v1", 170, "呼吸内科", "AMB", ASTHMA)],
    "周强": [("v1", 10, "内分泌科", "AMB", DIABETES), ("v2", 10, "心血管内科", "AMB", HYPERTENSION)],
    "吴敏": [("v1", 120, "消化内科", "AMB", REFLUX)],
    "郑浩": [("v1", 60, "皮肤科", "AMB", DERMATITIS)],
    "陈刚": [("v1", 30, "泌尿外科", "AMB", PROSTATE), ("v2", 179, "心血管内科", "AMB", HYPERTENSION)],
    # 冯雪 has no HIS record: the demo's "not a patient of this hospital" case.
}
NO_RECORD = "冯雪"
ONLY_OLD_RECORD = "李四"


def demo_his_patients() -> tuple[SeedPatient, ...]:
    """The sandbox HIS content for the demo people (by their ID numbers)."""
    people = {p.name: p for p in data.all_identities()}
    out = []
    for name, visits in sorted(_HISTORY.items()):
        person = people[name]
        out.append(
            SeedPatient(
                key="demo-" + hashlib.sha256(person.id_number.encode()).hexdigest()[:12],
                id_number=person.id_number,
                name=name,
                visits=tuple(
                    SeedVisit(
                        key=key,
                        days_ago=days,
                        department_code=_DEPARTMENT_CODES[dept],
                        department_name=dept,
                        encounter_class=kind,
                        diagnoses=(diagnosis,),
                    )
                    for key, days, dept, kind, diagnosis in visits
                ),
            )
        )
    return tuple(out)


def seed_demo_his_records(db: Session) -> int:
    """Seed the sandbox HIS with the demo history (idempotent); returns how many rows were new."""
    return seed_his_records(db, demo_his_patients())
