"""The demo's HIS history gives the eligible and not-eligible cases the demo promises, through the
real client against the sandbox HIS (so the demo shows both paths)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.demo import data
from ihis.demo.his_records import NO_RECORD, ONLY_OLD_RECORD, demo_his_patients, seed_demo_his_records
from ihis.integrations.his.client import DEV_TOKEN, SANDBOX_PATH, FhirHisClient, HisConfig
from ihis.integrations.his.protocol import HisPatient
from ihis.platform import jobs
from ihis.platform.clock import local_today
from ihis.registration.eligibility import DepartmentRule, Granularity, HisHistory, decide
from ihis.registration.evidence import fetch_history

CODES = {d.name: d.subject_code for d in data.DEPARTMENTS}


def _check(name: str, department: str, tags: tuple[str, ...] = ()) -> str:
    person = {p.name: p for p in data.all_identities()}[name]
    his = FhirHisClient(jobs.runtime().http, HisConfig("http://testserver" + SANDBOX_PATH, DEV_TOKEN))
    today = local_today()
    history = fetch_history(his, person.id_number, today - dt.timedelta(days=600))
    rule = DepartmentRule(1, department, CODES[department], lookback_days=180)
    decision = decide(
        person.id_number, history, rule, tags=tags, granularity=Granularity.CATEGORY, today=today
    )
    return decision.reasons[0].code


@pytest.mark.parametrize(
    ("name", "department", "tags", "outcome"),
    [
        ("张三", "心血管内科", ("I10",), "eligible"),
        ("张三", "内分泌科", ("E11",), "eligible"),
        ("张三", "呼吸内科", (), "no_recent_visit"),
        ("陈刚", "心血管内科", (), "eligible"),
        ("李老太", "心血管内科", ("I10",), "no_matching_diagnosis"),
        (ONLY_OLD_RECORD, "心血管内科", ("I10",), "outside_lookback_window"),
        (NO_RECORD, "心血管内科", (), "no_his_record"),
    ],
)
def test_demo_cases(
    client: TestClient, db: Session, name: str, department: str, tags: tuple[str, ...], outcome: str
) -> None:
    seed_demo_his_records(db)
    db.commit()
    assert _check(name, department, tags) == outcome


def test_demo_seeding_is_idempotent_and_covers_every_demo_person_but_one(db: Session) -> None:
    assert seed_demo_his_records(db) > 0
    assert seed_demo_his_records(db) == 0
    seeded = {p.name for p in demo_his_patients()}
    people = {p.name for patient in data.PATIENTS for p in (patient.owner, *patient.family)}
    assert people - seeded == {NO_RECORD}


def test_only_the_same_persons_records_are_fetched() -> None:
    class OneWrongPatient:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def find_patients(self, id_number: str) -> list[HisPatient]:
            return [
                HisPatient("right", id_number.lower(), None),
                HisPatient("wrong", "110105198005046032", None),
            ]

        def encounters(self, patient_id: str, since: dt.date) -> list[object]:
            self.asked.append(patient_id)
            return []

        def diagnoses(self, patient_id: str, since: dt.date) -> list[object]:
            self.asked.append(patient_id)
            return []

    his = OneWrongPatient()
    history = fetch_history(his, "11010519491231002X", local_today())  # type: ignore[arg-type]
    assert his.asked == ["right", "right"]
    assert [p.record_id for p in history.patients] == ["right", "wrong"]
    assert isinstance(history, HisHistory)
