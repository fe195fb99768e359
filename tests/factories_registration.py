"""Factories for registrations: a bookable world, evidence, booking and paying through the API.

world = booking_world(db)                       # institution, department, doctor, published session
who = make_booker(db, world)                     # consented patient, verified visitor, HIS evidence
r = book(client, db, settings, who, world.session)            # POST /me/registrations (201 asserted)
pay(client, anon, r["bill_id"])                  # sandbox cashier -> signed notify -> confirmed
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount, Visitor
from ihis.organization.models import Department, StaffProfile
from ihis.platform.clock import utcnow
from ihis.registration.models import EligibilityEvidence, Registration
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution
from tests.factories_org import make_department
from tests.factories_patient import make_consented_patient, make_visitor
from tests.factories_scheduling import make_scheduling_doctor, make_session


@dataclass
class World:
    inst: Institution
    dept: Department
    doctor: StaffProfile
    session: ClinicSession


@dataclass
class Booker:
    account: UserAccount
    visitor: Visitor
    evidence: EligibilityEvidence


def booking_world(db: Session, *, capacity: int = 5, days: int = 1, **kw: Any) -> World:
    inst = make_institution(db)
    dept = make_department(db, inst, name="心血管内科", subject_code="03.04", subject_name="心血管内科专业")
    doctor = make_scheduling_doctor(db, inst, dept, display_name="张医生")
    session = make_session(db, doctor, status="published", capacity=capacity, days=days, **kw)
    db.commit()
    return World(inst, dept, doctor, session)


def make_evidence(
    db: Session, account: UserAccount, visitor: Visitor, department_id: int, *, tags: list[str] | None = None
) -> EligibilityEvidence:
    """An eligible HIS answer, as ``POST /me/eligibility-checks`` stores it."""
    row = EligibilityEvidence(
        institution_id=account.institution_id,
        source="his",
        account_id=account.id,
        visitor_id=visitor.id,
        department_id=department_id,
        his_patient_ids=json.dumps(["pat-x"]),
        his_encounter_ids=json.dumps(["enc-x"]),
        his_condition_ids=json.dumps(["cond-x"]),
        icd10_codes=json.dumps(["I10"]),
        tags=json.dumps(tags or []),
        lookback_days=180,
        granularity="category",
        checked_at=utcnow(),
    )
    db.add(row)
    db.flush()
    db.commit()
    return row


def make_booker(db: Session, world: World, *, birth: dt.date | None = None, name: str = "王秀英") -> Booker:
    account = make_consented_patient(db, world.inst)
    visitor = make_visitor(db, account, name=name, birth=birth)
    return Booker(account, visitor, make_evidence(db, account, visitor, world.dept.id))


def book(
    client: TestClient,
    db: Session,
    settings: Settings,
    who: Booker,
    session: ClinicSession,
    *,
    expect: int = 201,
    **extra: Any,
) -> dict[str, Any]:
    login_as(client, db, who.account, settings)
    body = {"session_id": session.id, "visitor_id": who.visitor.id, "evidence_id": who.evidence.id, **extra}
    r = client.post("/api/v1/me/registrations", json=body)
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_payment(client: TestClient, bill_id: int, channel: str = "wechat") -> str:
    """Prepay at the channel; returns the sandbox cashier URL."""
    started = client.post(f"/api/v1/me/bills/{bill_id}/pay", json={"channel": channel})
    assert started.status_code == 200, started.text
    return str(started.json()["cashier_url"])


def confirm_at_cashier(anon: TestClient, cashier_url: str) -> None:
    """The payer presses 确认支付 (the signed notify follows at once)."""
    page = anon.get(_relative(cashier_url), follow_redirects=True)
    action = re.search(r"action='([^']+)'", page.text)
    redirect = re.search(r"name='redirect_url' value='([^']+)'", page.text)
    assert action is not None, page.text
    form = {"action": "pay"} | ({"redirect_url": redirect.group(1).replace("&amp;", "&")} if redirect else {})
    assert anon.post(action.group(1), data=form, follow_redirects=False).status_code in (200, 303)


def pay(client: TestClient, anon: TestClient, bill_id: int, channel: str = "wechat") -> None:
    """Pay the bill at the sandbox cashier."""
    confirm_at_cashier(anon, start_payment(client, bill_id, channel))


def registration(db: Session, registration_id: int) -> Registration:
    db.expire_all()
    row = db.scalar(select(Registration).where(Registration.id == registration_id))
    assert row is not None
    return row


def booked(db: Session, session: ClinicSession) -> int:
    db.expire_all()
    return db.scalar(select(ClinicSession.booked).where(ClinicSession.id == session.id)) or 0
