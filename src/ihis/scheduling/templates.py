"""Weekly templates (排班模板) and their expansion into draft sessions for a date range.

Generation is idempotent: the unique key (doctor, start, mode) skips sessions that exist already,
so running it twice for the same weeks creates nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.clock import local_today, utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.scheduling import policy
from ihis.scheduling.doctors import place
from ihis.scheduling.models import ClinicSession, WeeklyTemplate
from ihis.scheduling.schemas import GenerateIn, TemplateIn
from ihis.scheduling.service import check_no_overlap

RESOURCE = "weekly_template"
MAX_GENERATE_DAYS = 92


def _template(db: Session, actor: Actor, template_id: int) -> WeeklyTemplate:
    template = db.scalar(
        select(WeeklyTemplate).where(
            WeeklyTemplate.id == template_id, WeeklyTemplate.institution_id == actor.institution_id
        )
    )
    if template is None:
        raise NotFound("排班模板不存在", "Template not found")
    return template


def _values(db: Session, actor: Actor, data: TemplateIn) -> dict[str, Any]:
    """The checked column values of a template (validated before any row is touched)."""
    policy.check_span("body.end_time", data.start_time, data.end_time)
    placement = place(
        db,
        actor.institution_id,
        doctor_id=data.doctor_id,
        department_id=data.department_id,
        campus_id=data.campus_id,
        mode=data.mode.value,
    )
    return {
        "doctor_id": data.doctor_id,
        "department_id": placement.department.id,
        "campus_id": placement.campus_id,
        "weekday": data.weekday,
        "start_time": data.start_time,
        "end_time": data.end_time,
        "mode": data.mode.value,
        "capacity": data.capacity,
        "price_fen": data.price_fen,
        "disease_tags": policy.normalise_tags("body.disease_tags", data.disease_tags),
    }


def _flush(db: Session) -> None:
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as exc:
        raise Conflict("该医师同一星期同一时间同一方式的模板已存在", "The same template exists") from exc


def create_template(db: Session, actor: Actor, data: TemplateIn) -> WeeklyTemplate:
    """A new weekly template."""
    template = WeeklyTemplate(institution_id=actor.institution_id, **_values(db, actor, data))
    db.add(template)
    _flush(db)
    audit.record(
        db, actor.audit(), "schedule.template.create", resource_type=RESOURCE, resource_id=template.id
    )
    return template


def update_template(db: Session, actor: Actor, template_id: int, data: TemplateIn) -> WeeklyTemplate:
    """Replace a template (sessions generated earlier are not changed)."""
    template = _template(db, actor, template_id)
    for key, value in _values(db, actor, data).items():
        setattr(template, key, value)
    _flush(db)
    audit.record(
        db, actor.audit(), "schedule.template.update", resource_type=RESOURCE, resource_id=template_id
    )
    return template


def delete_template(db: Session, actor: Actor, template_id: int) -> None:
    """Remove a template (its generated sessions stay)."""
    template = _template(db, actor, template_id)
    db.delete(template)
    db.flush()
    audit.record(
        db, actor.audit(), "schedule.template.delete", resource_type=RESOURCE, resource_id=template_id
    )


def list_templates(
    db: Session, actor: Actor, *, doctor_id: int | None = None, department_id: int | None = None
) -> list[WeeklyTemplate]:
    """The institution's templates, by doctor, weekday and time."""
    stmt = select(WeeklyTemplate).where(WeeklyTemplate.institution_id == actor.institution_id)
    if doctor_id is not None:
        stmt = stmt.where(WeeklyTemplate.doctor_id == doctor_id)
    if department_id is not None:
        stmt = stmt.where(WeeklyTemplate.department_id == department_id)
    order = (WeeklyTemplate.doctor_id, WeeklyTemplate.weekday, WeeklyTemplate.start_time, WeeklyTemplate.id)
    return list(db.scalars(stmt.order_by(*order)))


@dataclass
class Generated:
    created: list[int] = field(default_factory=list)
    skipped: int = 0


def _check_range(data: GenerateIn) -> None:
    today = local_today()
    if data.date_to < data.date_from:
        raise InvalidInput.field(
            "body.date_to", "range_reversed", "结束日期早于开始日期", "date_to is before date_from"
        )
    if (data.date_to - data.date_from).days >= MAX_GENERATE_DAYS:
        raise InvalidInput.field(
            "body.date_to",
            "range_too_long",
            f"一次最多生成 {MAX_GENERATE_DAYS} 天",
            f"At most {MAX_GENERATE_DAYS} days at a time",
        )
    policy.check_day("body.date_from", data.date_from, today)
    policy.check_day("body.date_to", data.date_to, today)


def _one(db: Session, actor: Actor, template: WeeklyTemplate, day: dt.date) -> int | None:
    """The new session's id, or None when it exists, overlaps, is past, or the doctor cannot take it."""
    start_at, end_at = policy.local_span(day, template.start_time, template.end_time)
    if start_at <= utcnow():
        return None
    try:
        placement = place(
            db,
            actor.institution_id,
            doctor_id=template.doctor_id,
            department_id=template.department_id,
            campus_id=template.campus_id,
            mode=template.mode,
        )
        check_no_overlap(db, template.doctor_id, start_at, end_at, "body")
    except InvalidInput:
        return None
    session = ClinicSession(
        institution_id=actor.institution_id,
        doctor_id=template.doctor_id,
        department_id=template.department_id,
        campus_id=placement.campus_id,
        service_date=day,
        start_at=start_at,
        end_at=end_at,
        mode=template.mode,
        capacity=template.capacity,
        booked=0,
        price_fen=template.price_fen if template.price_fen is not None else placement.price_fen,
        disease_tags=template.disease_tags,
        status=policy.DRAFT,
        version=1,
        template_id=template.id,
        created_by=actor.user_id,
    )
    try:
        with db.begin_nested():
            db.add(session)
            db.flush()
    except IntegrityError:
        return None  # the same session exists already: generation is idempotent
    return session.id


def generate(db: Session, actor: Actor, data: GenerateIn) -> Generated:
    """Draft sessions from the templates for every day of the range (existing ones are skipped)."""
    _check_range(data)
    templates = list_templates(db, actor, doctor_id=data.doctor_id, department_id=data.department_id)
    result = Generated()
    day = data.date_from
    while day <= data.date_to:
        for template in templates:
            if template.weekday != day.isoweekday():
                continue
            session_id = _one(db, actor, template, day)
            if session_id is None:
                result.skipped += 1
            else:
                result.created.append(session_id)
        day += dt.timedelta(days=1)
    audit.record(
        db,
        actor.audit(),
        "schedule.template.generate",
        resource_type=RESOURCE,
        detail={
            "date_from": data.date_from.isoformat(),
            "date_to": data.date_to.isoformat(),
            "created": len(result.created),
            "skipped": result.skipped,
        },
    )
    return result
