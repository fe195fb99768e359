"""200 patients race for 5 slots: exactly 5 win (separate connections, real commits, both databases)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete, select

from ihis.identity.models import UserAccount
from ihis.organization.models import Department
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.slots import hold_slot, release_slot
from ihis.settings import Settings
from ihis.tenancy.models import Institution

pytestmark = pytest.mark.commits

CONTENDERS = 200
CAPACITY = 5


@pytest.fixture
def committed_session(base_settings: Settings, engine: Engine) -> Iterator[tuple[Database, int]]:
    """A published capacity-5 session really committed (its own pool); removed afterwards."""
    database = Database(base_settings)
    with database.unit_of_work() as db:
        inst = Institution(
            code=f"RACE{utcnow().timestamp():.0f}", name="争抢测试医院", registered_subjects="03.01"
        )
        db.add(inst)
        db.flush()
        doctor = UserAccount(
            institution_id=inst.id, kind="staff", username="race-doctor", display_name="医师"
        )
        dept = Department(
            institution_id=inst.id, name="呼吸内科", subject_code="03.01", subject_name="呼吸内科专业"
        )
        db.add_all([doctor, dept])
        db.flush()
        start = utcnow() + dt.timedelta(days=1)
        session = ClinicSession(
            institution_id=inst.id,
            doctor_id=doctor.id,
            department_id=dept.id,
            service_date=start.date(),
            start_at=start,
            end_at=start + dt.timedelta(hours=2),
            mode="text",
            capacity=CAPACITY,
            booked=0,
            price_fen=2000,
            status="published",
        )
        db.add(session)
        db.flush()
        ids = (inst.id, doctor.id, dept.id, session.id)
    try:
        yield database, ids[3]
    finally:
        inst_id, doctor_id, dept_id, session_id = ids
        with database.unit_of_work() as db:
            db.execute(delete(ClinicSession).where(ClinicSession.id == session_id))
            db.execute(delete(Department).where(Department.id == dept_id))
            db.execute(delete(UserAccount).where(UserAccount.id == doctor_id))
            db.execute(delete(Institution).where(Institution.id == inst_id))
        database.dispose()


def test_two_hundred_concurrent_holds_on_five_slots_give_exactly_five(
    committed_session: tuple[Database, int],
) -> None:
    database, session_id = committed_session
    gate = threading.Barrier(CONTENDERS)

    def contend(_: int) -> bool:
        gate.wait(timeout=30)
        with database.unit_of_work() as db:
            return hold_slot(db, session_id)

    with ThreadPoolExecutor(CONTENDERS) as pool:
        outcomes = list(pool.map(contend, range(CONTENDERS)))
    assert outcomes.count(True) == CAPACITY
    assert outcomes.count(False) == CONTENDERS - CAPACITY
    with database.unit_of_work(write=False) as db:
        assert db.scalar(select(ClinicSession.booked).where(ClinicSession.id == session_id)) == CAPACITY

    # Releases race too: five succeed, the sixth finds nothing to release.
    with ThreadPoolExecutor(6) as pool:
        released = list(pool.map(lambda _: _release(database, session_id), range(6)))
    assert released.count(True) == CAPACITY
    with database.unit_of_work(write=False) as db:
        assert db.scalar(select(ClinicSession.booked).where(ClinicSession.id == session_id)) == 0


def _release(database: Database, session_id: int) -> bool:
    with database.unit_of_work() as db:
        return release_slot(db, session_id)
