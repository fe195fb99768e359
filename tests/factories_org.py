"""Factories for the organization domain: campuses, departments, profiles, prices, uploads.

inst = make_institution(db)
dept = make_department(db, inst)                       # 03.01 呼吸内科专业
doc = make_listed_doctor(db, inst, dept)               # approved, service on, text mode priced
applicant_login(client, db, pending_account, settings) # application session (Bearer)
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.identity import sessions
from ihis.identity.models import UserAccount
from ihis.organization.models import (
    Campus,
    Department,
    QualificationDocument,
    ServicePrice,
    StaffProfile,
    StaffServiceMode,
)
from ihis.platform.clock import local_today, utcnow
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import make_staff

_seq = itertools.count(1)

# The smallest files whose leading bytes announce their type.
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF_BYTES = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE_BYTES = b"MZ\x90\x00" + b"\x00" * 64


def years_ago(years: int, extra_days: int = 30) -> dt.date:
    """A practice start date giving exactly ``years`` completed years today."""
    today = local_today()
    return today.replace(year=today.year - years) - dt.timedelta(days=extra_days)


def make_campus(db: Session, inst: Institution, **kw: Any) -> Campus:
    n = next(_seq)
    campus = Campus(institution_id=inst.id, name=kw.pop("name", f"院区{n}"), **kw)
    db.add(campus)
    db.flush()
    return campus


def make_department(
    db: Session,
    inst: Institution,
    *,
    subject_code: str = "03.01",
    subject_name: str = "呼吸内科专业",
    enabled: bool = True,
    **kw: Any,
) -> Department:
    n = next(_seq)
    dept = Department(
        institution_id=inst.id,
        name=kw.pop("name", f"科室{n}"),
        subject_code=subject_code,
        subject_name=subject_name,
        enabled=enabled,
        **kw,
    )
    db.add(dept)
    db.flush()
    return dept


def make_profile(
    db: Session,
    account: UserAccount,
    *,
    profession: str = "doctor",
    title: str | None = "主治医师",
    department: Department | None = None,
    status: str = "draft",
    years: int = 10,
    **kw: Any,
) -> StaffProfile:
    n = next(_seq)
    profile = StaffProfile(
        institution_id=account.institution_id,
        user_id=account.id,
        profession=profession,
        title=title,
        department_id=department.id if department else None,
        licence_no=kw.pop("licence_no", f"1101100000{n:05d}"),
        qualification_no=kw.pop("qualification_no", f"2001110000{n:05d}"),
        practice_started_on=kw.pop("practice_started_on", years_ago(years)),
        review_status=status,
        submitted_at=utcnow() if status != "draft" else None,
        **kw,
    )
    db.add(profile)
    db.flush()
    return profile


def add_document(db: Session, profile: StaffProfile, *, kind: str = "licence") -> QualificationDocument:
    """A document row (no file behind it) for profiles arranged directly in the database."""
    doc = QualificationDocument(
        institution_id=profile.institution_id,
        profile_id=profile.id,
        kind=kind,
        file_key=f"{next(_seq):032x}",
        content_type="application/pdf",
        size_bytes=10,
        sha256="0" * 64,
        uploaded_by=profile.user_id,
        uploaded_at=utcnow(),
    )
    db.add(doc)
    db.flush()
    return doc


def set_mode(
    db: Session, profile: StaffProfile, mode: str, *, enabled: bool = True, price_fen: int | None = None
) -> None:
    db.add(
        StaffServiceMode(
            institution_id=profile.institution_id,
            profile_id=profile.id,
            mode=mode,
            enabled=enabled,
            price_fen=price_fen,
        )
    )
    db.flush()


def set_title_price(db: Session, inst: Institution, title: str, mode: str, price_fen: int) -> ServicePrice:
    price = ServicePrice(institution_id=inst.id, title=title, mode=mode, price_fen=price_fen)
    db.add(price)
    db.flush()
    return price


def make_listed_doctor(
    db: Session,
    inst: Institution,
    dept: Department,
    *,
    title: str = "主治医师",
    display_name: str | None = None,
    specialties: str | None = "慢性阻塞性肺疾病",
    text_price_fen: int | None = 2000,
    **kw: Any,
) -> StaffProfile:
    """An approved doctor with service on and the text mode enabled at an overridden price."""
    account = make_staff(db, inst, roles=["doctor"], display_name=display_name)
    kw.setdefault("service_on", True)
    kw.setdefault("status", "approved")
    profile = make_profile(db, account, title=title, department=dept, specialties=specialties, **kw)
    set_mode(db, profile, "text", price_fen=text_price_fen)
    return profile


def applicant_login(client: TestClient, db: Session, account: UserAccount, settings: Settings) -> str:
    """Give ``client`` the application session identity issues to a pending applicant (Bearer)."""
    issued = sessions.issue_session(
        db, account, settings, channel="application", ip="testclient", user_agent="pytest", mfa_verified=False
    )
    db.commit()
    client.headers["Authorization"] = f"Bearer {issued.token}"
    return issued.token


def problem_fields(response: Any) -> list[str]:
    """The field names a problem+json response blames."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [e["field"] for e in response.json().get("errors", [])]


def audit_actions(db: Session, resource_type: str, resource_id: object | None = None) -> list[str]:
    """Actions the audit ledger holds for a resource, oldest first."""
    from sqlalchemy import select

    from ihis.platform.audit import AuditEvent

    stmt = select(AuditEvent.action).where(AuditEvent.resource_type == resource_type)
    if resource_id is not None:
        stmt = stmt.where(AuditEvent.resource_id == str(resource_id))
    return list(db.scalars(stmt.order_by(AuditEvent.seq)))
