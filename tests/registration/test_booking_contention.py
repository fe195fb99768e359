"""200 concurrent bookers on a capacity-5 session (issue 3 §8): exactly 5 holds, clean 409s, no 5xx,
and the slot counter equals the live registrations — separate connections and real commits, on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, delete, func, select, update

from ihis.billing.models import Bill
from ihis.identity import sessions
from ihis.platform import jobs
from ihis.platform.db import Database
from ihis.registration.models import EligibilityEvidence, Registration
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories_patient import make_consented_patient, make_visitor
from tests.factories_registration import booking_world, make_evidence

pytestmark = pytest.mark.commits

BOOKERS = 200
CAPACITY = 5


@pytest.fixture
def committed(base_settings: Settings, engine: Engine) -> Iterator[tuple[Database, FastAPI, dict[str, int]]]:
    """An application on a Database that really commits; the bookings are removed afterwards."""
    from ihis.app import create_app

    database = Database(base_settings)
    application = create_app(base_settings, database=database)
    made: dict[str, int] = {}
    try:
        yield database, application, made
    finally:
        jobs.unbind_runtime()
        with database.unit_of_work() as db:
            inst = made.get("institution_id", -1)
            db.execute(delete(Registration).where(Registration.institution_id == inst))
            db.execute(delete(EligibilityEvidence).where(EligibilityEvidence.institution_id == inst))
            db.execute(delete(Bill).where(Bill.institution_id == inst))
            db.execute(
                update(ClinicSession)
                .where(ClinicSession.institution_id == inst)
                .values(booked=0, status="stopped")
            )
        database.dispose()


def test_two_hundred_concurrent_bookers_get_exactly_the_five_slots(
    committed: tuple[Database, FastAPI, dict[str, int]], base_settings: Settings
) -> None:
    database, application, made = committed
    tokens: list[tuple[str, dict[str, int]]] = []
    with database.unit_of_work() as db:
        world = booking_world(db, capacity=CAPACITY)
        made["institution_id"] = world.inst.id
        session_id = world.session.id
        for _ in range(BOOKERS):
            account = make_consented_patient(db, world.inst, password=None)
            visitor = make_visitor(db, account)
            evidence = make_evidence(db, account, visitor, world.dept.id)
            issued = sessions.issue_session(
                db,
                account,
                base_settings,
                channel="bearer",
                ip="127.0.0.1",
                user_agent="pytest",
                mfa_verified=True,
            )
            body = {"session_id": session_id, "visitor_id": visitor.id, "evidence_id": evidence.id}
            tokens.append((issued.token, body))

    async def storm() -> list[tuple[int, str]]:
        # One event loop and one thread pool, as in a real server process: every request competes
        # for the same worker threads (the case that once deadlocked on the write lock).
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=120
        ) as client:

            async def one(token: str, body: dict[str, int]) -> tuple[int, str]:
                r = await client.post(
                    "/api/v1/me/registrations", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                return r.status_code, (r.json().get("code", "") if r.status_code != 201 else "")

            return list(await asyncio.gather(*(one(token, body) for token, body in tokens)))

    answers = asyncio.run(storm())

    counts = Counter(answers)
    assert counts[(201, "")] == CAPACITY, counts
    assert counts[(409, "session_full")] == BOOKERS - CAPACITY, counts
    assert not [a for a in answers if a[0] >= 500]
    with database.unit_of_work(write=False) as db:
        live = db.scalar(
            select(func.count())
            .select_from(Registration)
            .where(
                Registration.session_id == session_id,
                Registration.status.in_(("pending_payment", "confirmed")),
            )
        )
        booked = db.scalar(select(ClinicSession.booked).where(ClinicSession.id == session_id))
        bills = db.scalar(
            select(func.count()).select_from(Bill).where(Bill.institution_id == made["institution_id"])
        )
    assert booked == live == bills == CAPACITY
