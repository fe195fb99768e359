"""The demo hospital's schedule: weekly templates for every demo doctor and the published sessions of
the booking window, made through the scheduling service as operations would (idempotent).

Every doctor: mornings 08:30-11:30 图文 (8 slots) every day; doctors offering video also 14:00-16:30
视频 (4 slots). 王建国 (心血管内科) also runs an evening 高血压专病 session tagged I10 (18:00-19:30,
图文, 5 slots): only patients with a hypertension diagnosis in the HIS may book it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select

from ihis.demo import data
from ihis.identity.access import Actor, Permission
from ihis.identity.models import UserAccount
from ihis.organization.models import StaffProfile, StaffServiceMode
from ihis.platform.clock import local_today
from ihis.scheduling import service, templates
from ihis.scheduling.models import WeeklyTemplate
from ihis.scheduling.schemas import GenerateIn, TemplateIn
from ihis.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ihis.demo.loader import DemoLoad
    from ihis.tenancy.models import Institution

Slot = tuple[dt.time, dt.time, str, int]

MORNING: Slot = (dt.time(8, 30), dt.time(11, 30), "text", 8)
AFTERNOON: Slot = (dt.time(14, 0), dt.time(16, 30), "video", 4)
EVENING_TAGGED: Slot = (dt.time(18, 0), dt.time(19, 30), "text", 5)
TAGGED_DOCTOR = "doctor01"
TAGS = ["I10"]


def _operations_actor(db: Session, inst: Institution) -> Actor:
    ops = db.scalar(
        select(UserAccount).where(UserAccount.institution_id == inst.id, UserAccount.username == "ops01")
    )
    assert ops is not None, "the demo operations account is loaded before the schedule"
    return Actor(
        user_id=ops.id,
        institution_id=inst.id,
        kind="staff",
        display_name=ops.display_name,
        roles=frozenset({"operations"}),
        session_id=0,
        staff_no=ops.staff_no,
        mfa_verified=True,
        permissions=frozenset({Permission.SCHEDULE_MANAGE}),
        user_agent="ihis demo",
    )


def _template(db: Session, actor: Actor, doctor_id: int, weekday: int, slot: Slot, tags: list[str]) -> bool:
    start, end, mode, capacity = slot
    exists = db.scalar(
        select(WeeklyTemplate.id).where(
            WeeklyTemplate.doctor_id == doctor_id,
            WeeklyTemplate.weekday == weekday,
            WeeklyTemplate.start_time == start,
            WeeklyTemplate.mode == mode,
        )
    )
    if exists is not None:
        return False
    templates.create_template(
        db,
        actor,
        TemplateIn(
            doctor_id=doctor_id,
            weekday=weekday,
            start_time=start,
            end_time=end,
            mode=mode,
            capacity=capacity,
            disease_tags=tags,
        ),
    )
    return True


def load_schedule(db: Session, inst: Institution, load: DemoLoad, settings: Settings) -> None:
    """Templates for the demo doctors; sessions of today and the booking window, published."""
    actor = _operations_actor(db, inst)
    doctors = {
        account.username: (account.id, profile.id)
        for account, profile in db.execute(
            select(UserAccount, StaffProfile)
            .join(StaffProfile, StaffProfile.user_id == UserAccount.id)
            .where(UserAccount.institution_id == inst.id, StaffProfile.profession == "doctor")
        )
    }
    for person in data.DOCTORS:
        if person.username not in doctors:
            continue
        doctor_id, profile_id = doctors[person.username]
        video = db.scalar(
            select(StaffServiceMode.enabled).where(
                StaffServiceMode.profile_id == profile_id, StaffServiceMode.mode == "video"
            )
        )
        slots: list[tuple[Slot, list[str]]] = [(MORNING, [])]
        if video:
            slots.append((AFTERNOON, []))
        if person.username == TAGGED_DOCTOR:
            slots.append((EVENING_TAGGED, TAGS))
        for weekday in range(1, 8):
            for slot, tags in slots:
                if _template(db, actor, doctor_id, weekday, slot, tags):
                    load.add("weekly_template")
    today = local_today()
    generated = templates.generate(
        db,
        actor,
        GenerateIn(date_from=today, date_to=today + dt.timedelta(days=settings.booking_window_days)),
    )
    for session_id in generated.created:
        service.publish(db, actor, session_id)
        load.add("clinic_session")
