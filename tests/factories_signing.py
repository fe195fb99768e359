"""Signing test helpers: mount the signing routers and the sandbox CA/TSA, enrol and activate signers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, permissions_of
from ihis.identity.models import UserAccount
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_staff

DOCTOR_PIN = "246810"


def mount_signing(application: FastAPI) -> FastAPI:
    """Include the signing routers (/api/v1) and the sandbox CA and TSA unless already there."""
    paths = {getattr(r, "path", "") for r in application.routes}
    if "/api/v1/me/signing-pin" not in paths:
        from ihis.signing.api import public_router, router

        application.include_router(router, prefix="/api/v1")
        application.include_router(public_router, prefix="/api/v1")
    if "/sandbox/tsa" not in paths:
        from ihis.integrations.ca.sandbox import router as ca_router
        from ihis.integrations.tsa.sandbox import router as tsa_router

        application.include_router(ca_router)
        application.include_router(tsa_router)
    return application


def actor_of(account: UserAccount, roles: tuple[str, ...] = ("doctor",)) -> Actor:
    """An Actor for service-level calls (no HTTP session)."""
    return Actor(
        user_id=account.id,
        institution_id=account.institution_id,
        kind=account.kind,
        display_name=account.display_name,
        roles=frozenset(roles),
        session_id=0,
        staff_no=account.staff_no,
        mfa_verified=True,
        permissions=permissions_of(frozenset(roles)),
    )


def enrol_and_activate(
    client: TestClient,
    db: Session,
    settings: Settings,
    inst: Institution,
    *,
    doctor: UserAccount | None = None,
    pin: str = DOCTOR_PIN,
    **kw: Any,
) -> UserAccount:
    """A doctor enrolled by an IT admin who then set ``pin`` (all through HTTP)."""
    admin = make_staff(db, inst, roles=("it_admin",))
    doctor = doctor or make_staff(db, inst, roles=("doctor",), **kw)
    db.commit()
    login_as(client, db, admin, settings)
    assert client.post(f"/api/v1/admin/signers/{doctor.id}/enrol").status_code == 201
    login_as(client, db, doctor, settings)
    answer = client.put("/api/v1/me/signing-pin", json={"new_pin": pin})
    assert answer.status_code == 200, answer.text
    return doctor
