"""Factories: build data directly in the test's transaction, and log clients in.

inst = make_institution(db)
doctor = make_staff(db, inst, roles=["doctor"])
login_as(client, db, doctor)          # cookie session + CSRF header, MFA passed
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.identity import sessions
from ihis.identity.models import RoleAssignment, UserAccount
from ihis.identity.passwords import hash_password
from ihis.platform.clock import utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.settings import Settings
from ihis.tenancy.models import Institution

_seq = itertools.count(1)
STAFF_PASSWORD = "Staff-Passw0rd!"
PATIENT_PASSWORD = "Patient-Pass1"


def make_institution(db: Session, *, code: str | None = None, **kw: Any) -> Institution:
    n = next(_seq)
    inst = Institution(
        code=code or f"H{n:04d}",
        name=kw.pop("name", f"测试医院{n}"),
        registered_subjects=kw.pop("registered_subjects", "03.01,03.03,03.04,03.05,04.01,07.01,12.01,13.01"),
        **kw,
    )
    db.add(inst)
    db.flush()
    return inst


def make_staff(
    db: Session,
    inst: Institution,
    *,
    roles: list[str] | tuple[str, ...] = ("doctor",),
    username: str | None = None,
    password: str | None = STAFF_PASSWORD,
    display_name: str | None = None,
    **kw: Any,
) -> UserAccount:
    n = next(_seq)
    account = UserAccount(
        institution_id=inst.id,
        kind="staff",
        status=kw.pop("status", "active"),
        username=username or f"staff{n}",
        staff_no=kw.pop("staff_no", f"S{n:05d}"),
        display_name=display_name or f"职工{n}",
        password_hash=hash_password(password) if password else None,
        password_changed_at=utcnow(),
        **kw,
    )
    db.add(account)
    db.flush()
    for role in roles:
        db.add(RoleAssignment(institution_id=inst.id, user_id=account.id, role=role, granted_at=utcnow()))
    db.flush()
    return account


def make_patient(
    db: Session,
    inst: Institution,
    *,
    phone: str | None = None,
    password: str | None = PATIENT_PASSWORD,
    **kw: Any,
) -> UserAccount:
    n = next(_seq)
    phone = phone or f"139{n:08d}"
    account = UserAccount(
        institution_id=inst.id,
        kind="patient",
        display_name=kw.pop("display_name", f"患者{n}"),
        phone=phone,
        phone_bidx=blind_index(phone, "phone"),
        password_hash=hash_password(password) if password else None,
        **kw,
    )
    db.add(account)
    db.flush()
    return account


def login_as(
    client: TestClient,
    db: Session,
    account: UserAccount,
    settings: Settings,
    *,
    mfa_verified: bool = True,
    bearer: bool = False,
) -> sessions.IssuedSession:
    """Give ``client`` a live session for ``account`` without going through the login flow."""
    issued = sessions.issue_session(
        db,
        account,
        settings,
        channel="bearer" if bearer else "cookie",
        ip="testclient",
        user_agent="pytest",
        mfa_verified=mfa_verified,
    )
    db.commit()
    if bearer:
        client.headers["Authorization"] = f"Bearer {issued.token}"
    else:
        client.cookies.set(sessions.SESSION_COOKIE, issued.token)
        client.cookies.set(sessions.CSRF_COOKIE, issued.csrf_token)
        client.headers["X-CSRF-Token"] = issued.csrf_token
    return issued
