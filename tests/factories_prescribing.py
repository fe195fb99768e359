"""Factories for prescriptions: a doctor in an in-progress consultation with the demo formulary and
rule base, a pharmacist enrolled for signing and on duty.

w = rx_world(client, anon, db, settings)        # the doctor is logged in, consultation accepted
rx = new_draft(client, w)                       # a draft; save(client, rx, lines=[line(w, "D001")])
ph = pharmacist(client, db, settings, w)        # logged in, signing PIN set, checked in
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.formulary.demo import seed_demo_formulary
from ihis.formulary.models import Drug
from ihis.identity.models import UserAccount
from ihis.medication_rules.demo import seed_demo_knowledge
from ihis.settings import Settings
from tests.factories import login_as, make_staff
from tests.factories_consultation import as_doctor, paid_registration
from tests.factories_registration import Booker, World
from tests.factories_signing import DOCTOR_PIN, enrol_and_activate

WS = "/api/v1/workstation"
PHARMACIST_PIN = "135792"


def mount_prescribing(application: FastAPI) -> FastAPI:
    """Include the prescribing and review routers (/api/v1) unless the application has them."""
    paths = {getattr(r, "path", "") for r in application.routes}
    if "/api/v1/pharmacy/duty" not in paths:
        from ihis.prescribing.api import router
        from ihis.prescribing.review_api import router as review_router

        application.include_router(router, prefix="/api/v1")
        application.include_router(review_router, prefix="/api/v1")
    return application


@dataclass
class RxWorld:
    world: World
    who: Booker
    doctor: UserAccount
    consultation: dict[str, Any]
    drugs: dict[str, int]


def drug_ids(db: Session, institution_id: int) -> dict[str, int]:
    return {
        row[0]: row[1]
        for row in db.execute(select(Drug.code, Drug.id).where(Drug.institution_id == institution_id))
    }


def rx_world(client: TestClient, anon: TestClient, db: Session, settings: Settings, **kw: Any) -> RxWorld:
    """A paid registration accepted by its doctor (enrolled for signing), the demo formulary and rules."""
    world, who, held = paid_registration(client, anon, db, settings, **kw)
    seed_demo_formulary(db, world.inst.id)
    seed_demo_knowledge(db, world.inst.id)
    db.commit()
    doctor = as_doctor(client, db, world, settings)
    enrol_and_activate(client, db, settings, world.inst, doctor=doctor)
    as_doctor(client, db, world, settings)
    consultation = client.post(f"{WS}/registrations/{held['id']}/accept").json()
    return RxWorld(world, who, doctor, consultation, drug_ids(db, world.inst.id))


def line(w: RxWorld, code: str, **kw: Any) -> dict[str, Any]:
    """A sensible line for the demo drug ``code`` (amlodipine 5 mg once a day for 7 days ...)."""
    base: dict[str, Any] = {
        "drug_id": w.drugs[code],
        "dose": "5",
        "dose_unit": "mg",
        "frequency": "qd",
        "route": "po",
        "days": 7,
        "quantity": 1,
    }
    base.update(kw)
    return base


def new_draft(client: TestClient, w: RxWorld, **kw: Any) -> dict[str, Any]:
    answer = client.post(f"{WS}/consultations/{w.consultation['id']}/prescriptions", json=kw)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def save(client: TestClient, rx: dict[str, Any], *, expect: int = 200, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": rx["version"],
        "diagnoses": [{"system": "icd10", "code": "I10.x00x002"}],
    }
    body.update(fields)
    answer = client.put(f"{WS}/prescriptions/{rx['id']}", json=body)
    assert answer.status_code == expect, answer.text
    return answer.json()  # type: ignore[no-any-return]


def submit(
    client: TestClient,
    rx: dict[str, Any],
    *,
    overrides: list[dict[str, str]] | None = None,
    pin: str = DOCTOR_PIN,
) -> Any:
    return client.post(
        f"{WS}/prescriptions/{rx['id']}/submit", json={"pin": pin, "overrides": overrides or []}
    )


def pharmacist(
    client: TestClient,
    db: Session,
    settings: Settings,
    w: RxWorld,
    *,
    check_in: bool = True,
    name: str = "孙药师",
) -> UserAccount:
    """A pharmacist of the world's institution enrolled for signing (PIN set), logged in, checked in."""
    account = make_staff(db, w.world.inst, roles=("pharmacist",), display_name=name)
    db.commit()
    enrol_and_activate(client, db, settings, w.world.inst, doctor=account, pin=PHARMACIST_PIN)
    login_as(client, db, account, settings)
    if check_in:
        assert client.post("/api/v1/pharmacy/duty/check-in").status_code == 200
    return account


CHECKLIST = dict.fromkeys(
    (
        "department",
        "name",
        "age",
        "drug_name",
        "dosage_form",
        "strength",
        "quantity",
        "drug_properties",
        "usage_and_dose",
        "diagnosis",
    ),
    True,
)
