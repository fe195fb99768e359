"""``ihis demo``: load the demo hospital. Idempotent — every row is looked up by its natural key
first, so a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.demo import data
from ihis.identity import idnumbers
from ihis.identity.models import ConsentDocument, RoleAssignment, UserAccount, Visitor
from ihis.identity.passwords import hash_password
from ihis.integrations.insurance.sandbox import person_of
from ihis.platform.clock import utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.platform.db import Database
from ihis.settings import Settings
from ihis.tenancy.models import Institution


class DemoLoad:
    """Counts of what one run created (all zero on a re-run)."""

    def __init__(self) -> None:
        self.created: dict[str, int] = {}

    def add(self, what: str) -> None:
        self.created[what] = self.created.get(what, 0) + 1


def _institution(db: Session, load: DemoLoad) -> Institution:
    inst = db.scalar(select(Institution).where(Institution.code == data.INSTITUTION_CODE))
    if inst is None:
        inst = Institution(
            code=data.INSTITUTION_CODE,
            name=data.INSTITUTION_NAME,
            credit_code="12110000400000000X",
            registered_subjects=data.REGISTERED_SUBJECTS,
            address=data.CAMPUSES[0].address,
            phone=data.CAMPUSES[0].phone,
            introduction="示范市第一人民医院是一所三级甲等综合医院。互联网医院为本院已确诊的常见病、慢性病患者提供在线复诊服务。",
        )
        db.add(inst)
        db.flush()
        load.add("institution")
    return inst


def _staff(db: Session, inst: Institution, person: data.Staff, load: DemoLoad) -> UserAccount:
    account = db.scalar(
        select(UserAccount).where(
            UserAccount.institution_id == inst.id, UserAccount.username == person.username
        )
    )
    if account is None:
        now = utcnow()
        account = UserAccount(
            institution_id=inst.id,
            kind="staff",
            status="active",
            username=person.username,
            staff_no=person.staff_no,
            display_name=person.display_name,
            phone=person.phone,
            phone_bidx=blind_index(person.phone, "phone"),
            password_hash=hash_password(data.STAFF_PASSWORD),
            password_changed_at=now,
            must_change_password=False,
            totp_secret=person.totp_secret or None,
            totp_enabled_at=now if person.totp_secret else None,
        )
        db.add(account)
        db.flush()
        for role in person.roles:
            db.add(RoleAssignment(institution_id=inst.id, user_id=account.id, role=role, granted_at=now))
        load.add("staff")
    return account


def _patient(db: Session, inst: Institution, patient: data.Patient, load: DemoLoad) -> UserAccount:
    owner = patient.owner
    bidx = blind_index(owner.phone, "phone")
    account = db.scalar(
        select(UserAccount).where(
            UserAccount.institution_id == inst.id,
            UserAccount.kind == "patient",
            UserAccount.phone_bidx == bidx,
        )
    )
    if account is None:
        account = UserAccount(
            institution_id=inst.id,
            kind="patient",
            display_name=owner.name,
            phone=owner.phone,
            phone_bidx=bidx,
            password_hash=hash_password(data.PATIENT_PASSWORD),
            password_changed_at=utcnow(),
        )
        db.add(account)
        db.flush()
        load.add("patient")
    for person in (owner, *patient.family):
        _visitor(db, inst, account, person, load)
    return account


def _insurance(db: Session, visitor_id: int, person: data.Person, load: DemoLoad) -> None:
    """Bind 医保 as ``visitor_service.bind_insurance`` would, with the sandbox platform's 1101 answer
    (computed in process: the loader runs before any server answers HTTP)."""
    if person.name not in data.INSURED_VISITORS:
        return
    visitor = db.get(Visitor, visitor_id)
    if visitor is None or visitor.insurance_bound_at is not None:
        return
    answer = person_of(person.id_number)
    insured = answer["insuinfo"][0]
    visitor.insurance_psn_no = answer["baseinfo"]["psn_no"]
    visitor.insurance_type = insured["insutype"]
    visitor.insurance_area = insured["insuplc_admdvs"]
    visitor.insurance_bound_at = utcnow()
    db.flush()
    load.add("visitor_insurance")


def _visitor(
    db: Session, inst: Institution, account: UserAccount, person: data.Person, load: DemoLoad
) -> None:
    id_bidx = blind_index(person.id_number, "id_number")
    exists = db.scalar(
        select(Visitor.id).where(Visitor.account_id == account.id, Visitor.id_number_bidx == id_bidx)
    )
    if exists is not None:
        _insurance(db, exists, person, load)
        return
    facts = idnumbers.parse_id_number(person.id_number)
    visitor = Visitor(
        institution_id=inst.id,
        account_id=account.id,
        relation=person.relation,
        name=person.name,
        id_number=person.id_number,
        id_number_bidx=id_bidx,
        phone=person.phone,
        phone_bidx=blind_index(person.phone, "phone"),
        sex=facts.sex,
        birth_date=facts.birth_date,
        verified_at=utcnow(),
        verification_ref="demo-seed",
    )
    db.add(visitor)
    db.flush()
    load.add("visitor")
    _insurance(db, visitor.id, person, load)


def _consent(db: Session, inst: Institution, load: DemoLoad) -> None:
    exists = db.scalar(
        select(ConsentDocument.id).where(
            ConsentDocument.institution_id == inst.id,
            ConsentDocument.kind == "internet_service",
            ConsentDocument.version == data.CONSENT_VERSION,
        )
    )
    if exists is not None:
        return
    now = utcnow()
    db.add(
        ConsentDocument(
            institution_id=inst.id,
            kind="internet_service",
            version=data.CONSENT_VERSION,
            title=data.CONSENT_TITLE,
            body=data.CONSENT_BODY,
            body_hash=hashlib.sha256(data.CONSENT_BODY.encode()).hexdigest(),
            effective_at=now - dt.timedelta(days=1),
            created_at=now,
        )
    )
    db.flush()
    load.add("consent_document")


def load_demo(database: Database, settings: Settings) -> str:
    """Load (or confirm) the demo hospital and return the logins to print."""
    load = DemoLoad()
    with database.unit_of_work() as db:
        inst = _institution(db, load)
        for person in data.ALL_STAFF:
            _staff(db, inst, person, load)
        for patient in data.PATIENTS:
            _patient(db, inst, patient, load)
        _consent(db, inst, load)
        _load_extensions(db, inst, load)
        _load_schedule(db, inst, load, settings)
        _load_codes(db, load)
        _load_pharmacy(db, inst, load)
    return summary(load, settings)


def _load_pharmacy(db: Session, inst: Institution, load: DemoLoad) -> None:
    """The formulary, pharmacies and stock (formulary domain) and the rational-use rule base."""
    from ihis.formulary.demo import seed_demo_formulary
    from ihis.formulary.models import Drug
    from ihis.medication_rules.demo import seed_demo_knowledge

    before = db.scalar(select(func.count()).select_from(Drug).where(Drug.institution_id == inst.id)) or 0
    after = len(seed_demo_formulary(db, inst.id))
    for _ in range(after - before):
        load.add("formulary_drugs")
    if seed_demo_knowledge(db, inst.id):
        load.add("rx_knowledge_base")


def _load_extensions(db: Session, inst: Institution, load: DemoLoad) -> None:
    """Parts of the demo owned by later domains (organization, sandboxes)."""
    from ihis.demo import extensions

    extensions.load(db, inst, load)


def _load_codes(db: Session, load: DemoLoad) -> None:
    """The demo's diagnosis code subsets (coding domain)."""
    from ihis.demo.codes import load_codes

    load_codes(db, load)


def _load_schedule(db: Session, inst: Institution, load: DemoLoad, settings: Settings) -> None:
    """The schedule of the booking window (scheduling domain), as operations would publish it."""
    from ihis.demo.schedule import load_schedule

    load_schedule(db, inst, load, settings)


def summary(load: DemoLoad, settings: Settings) -> str:
    created = (
        ", ".join(f"{k}: {v}" for k, v in sorted(load.created.items())) or "nothing new (already loaded)"
    )
    base = settings.public_base_url.rstrip("/")
    lines = [
        "",
        f"演示医院 / demo hospital: {data.INSTITUTION_NAME} ({data.INSTITUTION_CODE})",
        f"created: {created}",
        "",
        f"  patient app (患者端):  {base}/app/",
        f"  console (管理端):      {base}/console/",
        f"  API docs:              {base}/api/v1/docs",
        "",
        "Demo logins (演示账号):",
        f"  patient        phone {data.PATIENTS[0].owner.phone} / {data.PATIENT_PASSWORD}"
        "  (or an SMS code from the sandbox outbox)",
    ]
    picks = (
        ("doctor", data.DOCTORS[0]),
        ("pharmacist", data.PHARMACISTS[0]),
        ("senior pharm.", data.PHARMACISTS[1]),
        *((s.roles[0], s) for s in data.OTHER_STAFF),
    )
    for role, person in picks:
        lines.append(
            f"  {role:<14} {person.username:<11} / {data.STAFF_PASSWORD}   TOTP secret {person.totp_secret}"
        )
    lines += [
        "",
        "Staff log in with password + TOTP: add the secret to an authenticator app, or run",
        '  uv run python -c "import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).now())" SECRET',
        "SMS codes sent in demo mode appear in the console under 沙箱短信 (ops01 or it01).",
        "Signing (病历/处方/审方): it01 enrols a doctor or pharmacist under 员工账号; each then sets",
        "  their own signing PIN under 我的签名密码.",
    ]
    return "\n".join(lines)
