"""Demo content of the organization domain and the sandboxes (idempotent, natural keys)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.demo import data
from ihis.demo.his_records import seed_demo_his_records
from ihis.identity.models import UserAccount
from ihis.integrations.realname.sandbox import seed_sandbox_identities
from ihis.organization.models import (
    Campus,
    Department,
    DisclosureItem,
    ReviewStatus,
    ServicePrice,
    StaffProfile,
    StaffServiceMode,
)
from ihis.platform.clock import utcnow
from ihis.tenancy.models import Institution

if TYPE_CHECKING:
    from ihis.demo.loader import DemoLoad


def load(db: Session, inst: Institution, load: DemoLoad) -> None:
    campuses = [_campus(db, inst, c, load) for c in data.CAMPUSES]
    departments = {d.name: _department(db, inst, d, campuses[d.campus], load) for d in data.DEPARTMENTS}
    _prices(db, inst, load)
    for i, person in enumerate(data.DOCTORS + data.PHARMACISTS):
        _profile(db, inst, person, departments.get(person.department or ""), i, load)
    _disclosure(db, inst, load)
    if seed_sandbox_identities(db, data.all_identities()):
        load.add("sandbox_identities")
    if seed_demo_his_records(db):
        load.add("sandbox_his_records")


def _campus(db: Session, inst: Institution, c: data.Campus, load: DemoLoad) -> Campus:
    row = db.scalar(select(Campus).where(Campus.institution_id == inst.id, Campus.name == c.name))
    if row is None:
        row = Campus(institution_id=inst.id, name=c.name, address=c.address, phone=c.phone, enabled=True)
        db.add(row)
        db.flush()
        load.add("campus")
    return row


def _department(
    db: Session, inst: Institution, d: data.Department, campus: Campus, load: DemoLoad
) -> Department:
    row = db.scalar(select(Department).where(Department.institution_id == inst.id, Department.name == d.name))
    if row is None:
        row = Department(
            institution_id=inst.id,
            campus_id=campus.id,
            name=d.name,
            subject_code=d.subject_code,
            subject_name=d.subject_name,
            introduction=d.introduction,
            scope=d.introduction,
            strengths=d.strengths,
            sort_order=data.DEPARTMENTS.index(d),
            enabled=True,
        )
        db.add(row)
        db.flush()
        load.add("department")
    return row


def _prices(db: Session, inst: Institution, load: DemoLoad) -> None:
    for title, modes in data.PRICES.items():
        for mode, fen in modes.items():
            exists = db.scalar(
                select(ServicePrice.id).where(
                    ServicePrice.institution_id == inst.id,
                    ServicePrice.title == title,
                    ServicePrice.mode == mode,
                )
            )
            if exists is None:
                db.add(ServicePrice(institution_id=inst.id, title=title, mode=mode, price_fen=fen))
                load.add("service_price")
    db.flush()


def _profile(
    db: Session, inst: Institution, person: data.Staff, department: Department | None, n: int, load: DemoLoad
) -> None:
    account = db.scalar(
        select(UserAccount).where(
            UserAccount.institution_id == inst.id, UserAccount.username == person.username
        )
    )
    if account is None:
        return
    exists = db.scalar(select(StaffProfile.id).where(StaffProfile.user_id == account.id))
    if exists is not None:
        return
    is_doctor = "doctor" in person.roles
    now = utcnow()
    profile = StaffProfile(
        institution_id=inst.id,
        user_id=account.id,
        profession="doctor" if is_doctor else "pharmacist",
        department_id=department.id if department else None,
        title=person.title,
        licence_no=f"1101100{20000000 + n * 7919:08d}",
        qualification_no=f"2001110{30000000 + n * 104729:08d}"[:15],
        practice_cert_no=f"BJ{2010 + n % 10}{n:06d}",
        practice_started_on=dt.date(person.practice_since or 2010, 7, 1),
        specialties=person.specialties,
        introduction=f"{person.display_name}，{person.title}，从事临床工作多年，擅长{person.specialties}。",
        prescription_right=is_doctor,
        service_on=is_doctor,
        review_status=ReviewStatus.APPROVED.value,
        submitted_at=now,
        reviewed_at=now,
    )
    db.add(profile)
    db.flush()
    if is_doctor:
        # Every demo doctor offers text; senior doctors also phone and video.
        modes = (
            ("text", "phone", "video") if person.title in ("主任医师", "副主任医师") else ("text", "video")
        )
        for mode in ("text", "phone", "video"):
            db.add(
                StaffServiceMode(
                    institution_id=inst.id, profile_id=profile.id, mode=mode, enabled=mode in modes
                )
            )
    db.flush()
    load.add("staff_profile")


def _disclosure(db: Session, inst: Institution, load: DemoLoad) -> None:
    for key, (title, body) in data.DISCLOSURE.items():
        exists = db.scalar(
            select(DisclosureItem.id).where(
                DisclosureItem.institution_id == inst.id, DisclosureItem.key == key
            )
        )
        if exists is None:
            db.add(
                DisclosureItem(institution_id=inst.id, key=key, title=title, body=body, updated_at=utcnow())
            )
            load.add("disclosure_item")
    db.flush()
