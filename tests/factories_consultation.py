"""Factories for consultations: a paid registration waiting for its doctor, the doctor's login.

world, who, reg = paid_registration(client, anon, db, settings)   # confirmed, queue number 1
as_doctor(client, db, world, settings)                              # the session's doctor logged in
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.clock import local_today, utcnow
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_coding import make_edition
from tests.factories_registration import Booker, World, book, booking_world, make_booker, pay


def start_session_now(db: Session, world: World) -> None:
    """Move the world's session to now (it started five minutes ago, ends in two hours)."""
    now = utcnow()
    db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == world.session.id)
        .values(
            start_at=now - dt.timedelta(minutes=5),
            end_at=now + dt.timedelta(hours=2),
            service_date=local_today(),
        )
    )
    db.commit()


def paid_registration(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, *, world: World | None = None
) -> tuple[World, Booker, dict[str, Any]]:
    if world is None:
        world = booking_world(db)
        make_edition(db, world.inst)  # the institution's ICD-10 table (the record checks codes)
    who = make_booker(db, world)
    held = book(client, db, settings, who, world.session)
    pay(client, anon, held["bill_id"])
    start_session_now(db, world)
    return world, who, held


def as_doctor(client: TestClient, db: Session, world: World, settings: Settings) -> UserAccount:
    doctor = db.get(UserAccount, world.doctor.user_id)
    assert doctor is not None
    login_as(client, db, doctor, settings)
    return doctor
