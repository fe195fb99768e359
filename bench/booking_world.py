"""The bookable world of `bench/booking.py`, written straight into the database through the ORM.

One institution, department and doctor; published sessions of small capacity starting tomorrow;
bookers who each hold what ``POST /api/v1/me/registrations`` checks: an accepted consent, a
real-name verified visitor, an eligible HIS answer (as ``POST /me/eligibility-checks`` stores it)
and a bearer session. Self-contained on purpose (no import from ``tests/``), like the demo loader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum.cn import ric

from ihis.identity import sessions
from ihis.identity.models import ConsentAcceptance, ConsentDocument, RoleAssignment, UserAccount, Visitor
from ihis.organization.models import Department, StaffProfile, StaffServiceMode
from ihis.platform.clock import HOSPITAL_TZ, local_today, utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.platform.db import Database
from ihis.registration.models import EligibilityEvidence, Registration
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from ihis.tenancy.models import Institution

CONSENT_BODY = "一、本院仅为常见病、慢性病复诊患者提供互联网诊疗服务。\n二、急危重症请立即线下就医。"
PRICE_FEN = 2000
_people = itertools.count(1)
_slots = itertools.count(0)


@dataclass(frozen=True)
class World:
    institution_id: int
    department_id: int
    doctor_id: int
    consent_id: int
    consent_version: str
    consent_hash: str


@dataclass(frozen=True)
class Booker:
    token: str
    visitor_id: int
    evidence_id: int


def make_world(database: Database, institution_code: str) -> World:
    """Institution, cardiology department, one approved doctor, the consent document in force."""
    now = utcnow()
    with database.unit_of_work() as db:
        inst = Institution(code=institution_code, name="压测医院", registered_subjects="03.01,03.04")
        db.add(inst)
        db.flush()
        dept = Department(
            institution_id=inst.id,
            name="心血管内科",
            subject_code="03.04",
            subject_name="心血管内科专业",
            enabled=True,
        )
        doctor = UserAccount(
            institution_id=inst.id,
            kind="staff",
            status="active",
            username="bench-doctor",
            staff_no="S00001",
            display_name="张医生",
            password_changed_at=now,
        )
        body_hash = hashlib.sha256(CONSENT_BODY.encode()).hexdigest()
        consent = ConsentDocument(
            institution_id=inst.id,
            kind="internet_service",
            version="v1",
            title="互联网诊疗服务知情同意书",
            body=CONSENT_BODY,
            body_hash=body_hash,
            effective_at=now - dt.timedelta(minutes=1),
            created_at=now,
        )
        db.add_all([dept, doctor, consent])
        db.flush()
        db.add(RoleAssignment(institution_id=inst.id, user_id=doctor.id, role="doctor", granted_at=now))
        profile = StaffProfile(
            institution_id=inst.id,
            user_id=doctor.id,
            profession="doctor",
            title="主治医师",
            department_id=dept.id,
            licence_no="110110000000001",
            qualification_no="200111000000001",
            practice_started_on=local_today() - dt.timedelta(days=3650),
            review_status="approved",
            submitted_at=now,
            service_on=True,
        )
        db.add(profile)
        db.flush()
        db.add(StaffServiceMode(institution_id=inst.id, profile_id=profile.id, mode="text", enabled=True))
        return World(inst.id, dept.id, doctor.id, consent.id, consent.version, body_hash)


def make_sessions(database: Database, world: World, count: int, capacity: int) -> list[int]:
    """``count`` published text sessions of ``capacity`` slots, ten minutes apart from tomorrow 08:00."""
    first = dt.datetime.combine(local_today() + dt.timedelta(days=1), dt.time(8, 0), HOSPITAL_TZ)
    with database.unit_of_work() as db:
        rows = []
        for _ in range(count):
            start = first + dt.timedelta(minutes=10 * next(_slots))
            rows.append(
                ClinicSession(
                    institution_id=world.institution_id,
                    doctor_id=world.doctor_id,
                    department_id=world.department_id,
                    service_date=start.date(),
                    start_at=start.astimezone(dt.UTC),
                    end_at=(start + dt.timedelta(minutes=10)).astimezone(dt.UTC),
                    mode="text",
                    capacity=capacity,
                    booked=0,
                    price_fen=PRICE_FEN,
                    disease_tags="",
                    status="published",
                    version=1,
                    published_at=utcnow(),
                )
            )
        db.add_all(rows)
        db.flush()
        return [row.id for row in rows]


def _id_number(birth: dt.date, n: int) -> str:
    """A checksum-valid GB 11643 number (synthetic: sequence number in the order code)."""
    body = f"110105{birth:%Y%m%d}{(n * 2 + 1) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def _booker(db: Session, world: World, settings: Settings) -> tuple[sessions.IssuedSession, Visitor, int]:
    n = next(_people)
    now = utcnow()
    phone = f"1370{n:07d}"
    account = UserAccount(
        institution_id=world.institution_id,
        kind="patient",
        display_name=f"患者{n}",
        phone=phone,
        phone_bidx=blind_index(phone, "phone"),
    )
    db.add(account)
    db.flush()
    db.add(
        ConsentAcceptance(
            institution_id=world.institution_id,
            account_id=account.id,
            document_id=world.consent_id,
            version=world.consent_version,
            text_hash=world.consent_hash,
            accepted_at=now,
        )
    )
    birth = dt.date(1950 + n % 50, 1 + n % 12, 1 + n % 28)
    id_number = _id_number(birth, n)
    visitor = Visitor(
        institution_id=world.institution_id,
        account_id=account.id,
        relation="self",
        name="王秀英",
        id_number=id_number,
        id_number_bidx=blind_index(id_number, "id_number"),
        phone=phone,
        phone_bidx=blind_index(phone, "phone"),
        sex=1 + n % 2,
        birth_date=birth,
        verified_at=now,
        verification_ref="bench",
    )
    db.add(visitor)
    issued = sessions.issue_session(
        db, account, settings, channel="bearer", ip="127.0.0.1", user_agent="bench", mfa_verified=True
    )
    return issued, visitor, account.id


def make_bookers(database: Database, world: World, settings: Settings, count: int) -> list[Booker]:
    """``count`` patients ready to book, each with one unused HIS eligibility answer."""
    made: list[Booker] = []
    with database.unit_of_work() as db:
        for _ in range(count):
            issued, visitor, account_id = _booker(db, world, settings)
            db.flush()
            evidence = EligibilityEvidence(
                institution_id=world.institution_id,
                source="his",
                account_id=account_id,
                visitor_id=visitor.id,
                department_id=world.department_id,
                his_patient_ids=json.dumps(["pat-bench"]),
                his_encounter_ids=json.dumps(["enc-bench"]),
                his_condition_ids=json.dumps(["cond-bench"]),
                icd10_codes=json.dumps(["I10"]),
                tags=json.dumps([]),
                lookback_days=180,
                granularity="category",
                checked_at=utcnow(),
            )
            db.add(evidence)
            db.flush()
            made.append(Booker(issued.token, visitor.id, evidence.id))
    return made


@dataclass(frozen=True)
class Tally:
    booked: int
    live_registrations: int
    over_capacity: int


def tally(database: Database, session_ids: list[int]) -> Tally:
    """Slot counters against live registrations of these sessions (the invariant of issue 3 §8)."""
    with database.unit_of_work(write=False) as db:
        booked = db.scalar(
            select(func.coalesce(func.sum(ClinicSession.booked), 0)).where(ClinicSession.id.in_(session_ids))
        )
        live = db.scalar(
            select(func.count())
            .select_from(Registration)
            .where(
                Registration.session_id.in_(session_ids),
                Registration.status.in_(("pending_payment", "confirmed")),
            )
        )
        over = db.scalar(
            select(func.count())
            .select_from(ClinicSession)
            .where(ClinicSession.id.in_(session_ids), ClinicSession.booked > ClinicSession.capacity)
        )
    return Tally(int(booked or 0), int(live or 0), int(over or 0))
