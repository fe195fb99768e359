"""Operations on clinic sessions: create, edit, publish, unpublish, read and list (SCHEDULE_MANAGE).

Every state change is one guarded UPDATE (``policy.TRANSITIONS``); a lost race changes nothing and
answers 409. Rows of another institution are invisible (404).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Select, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.identity.models import UserAccount
from ihis.organization.models import Campus, Department
from ihis.platform import audit, outbox
from ihis.platform.clock import HOSPITAL_TZ, local_today, utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.scheduling import policy
from ihis.scheduling.cache import schedule_changed
from ihis.scheduling.doctors import place, scheduling_doctor
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.schemas import SessionEditIn, SessionIn, SessionOut

RESOURCE = "clinic_session"


def get_session(db: Session, institution_id: int, session_id: int) -> ClinicSession:
    """One session of the institution (404 otherwise), freshly loaded."""
    session = db.scalar(
        select(ClinicSession)
        .where(ClinicSession.id == session_id, ClinicSession.institution_id == institution_id)
        .execution_options(populate_existing=True)
    )
    if session is None:
        raise NotFound("出诊时段不存在", "Session not found")
    return session


def check_no_overlap(
    db: Session,
    doctor_id: int,
    start_at: dt.datetime,
    end_at: dt.datetime,
    field: str,
    exclude_id: int | None = None,
) -> None:
    """A doctor cannot hold two live sessions at the same time."""
    stmt = select(ClinicSession.id).where(
        ClinicSession.doctor_id == doctor_id,
        ClinicSession.status != policy.STOPPED,
        ClinicSession.start_at < end_at,
        ClinicSession.end_at > start_at,
    )
    if exclude_id is not None:
        stmt = stmt.where(ClinicSession.id != exclude_id)
    if db.scalar(stmt.limit(1)) is not None:
        raise InvalidInput.field(
            field, "session_overlap", "该医师在此时段已有出诊安排", "The doctor already has a session then"
        )


def flush_or_conflict(db: Session) -> None:
    """Flush; a unique-key violation (same doctor, start and mode) becomes 409."""
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as exc:
        raise Conflict("该医师同一时间同一方式的出诊已存在", "The same session already exists") from exc


def create_session(db: Session, actor: Actor, data: SessionIn) -> ClinicSession:
    """A new draft session; the price defaults to the doctor's effective price for the mode."""
    policy.check_span("body.end_time", data.start_time, data.end_time)
    policy.check_day("body.service_date", data.service_date, local_today())
    placement = place(
        db,
        actor.institution_id,
        doctor_id=data.doctor_id,
        department_id=data.department_id,
        campus_id=data.campus_id,
        mode=data.mode.value,
    )
    start_at, end_at = policy.local_span(data.service_date, data.start_time, data.end_time)
    if start_at <= utcnow():
        raise InvalidInput.field(
            "body.start_time", "in_the_past", "开始时间已过", "The start time has passed"
        )
    check_no_overlap(db, data.doctor_id, start_at, end_at, "body.start_time")
    session = ClinicSession(
        institution_id=actor.institution_id,
        doctor_id=data.doctor_id,
        department_id=placement.department.id,
        campus_id=placement.campus_id,
        service_date=data.service_date,
        start_at=start_at,
        end_at=end_at,
        mode=data.mode.value,
        capacity=data.capacity,
        booked=0,
        price_fen=data.price_fen if data.price_fen is not None else placement.price_fen,
        disease_tags=policy.normalise_tags("body.disease_tags", data.disease_tags),
        status=policy.DRAFT,
        version=1,
        created_by=actor.user_id,
    )
    db.add(session)
    flush_or_conflict(db)
    audit.record(db, actor.audit(), "schedule.session.create", resource_type=RESOURCE, resource_id=session.id)
    return session


def guarded_update(
    db: Session,
    actor: Actor,
    session_id: int,
    action: str,
    values: dict[str, Any],
    *conditions: ColumnElement[bool],
) -> ClinicSession:
    """Apply ``action`` as one conditional UPDATE; 404 if not ours, 409 if the state forbids it."""
    current = get_session(db, actor.institution_id, session_id)
    result = db.execute(
        update(ClinicSession)
        .where(
            ClinicSession.id == session_id,
            ClinicSession.institution_id == actor.institution_id,
            ClinicSession.status.in_(policy.allowed_from(action)),
            *conditions,
        )
        .values(version=ClinicSession.version + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        raise Conflict(
            f"当前状态（{current.status}，已约 {current.booked}）不允许此操作",
            f"Not allowed in the current state ({current.status}, {current.booked} booked)",
            extra={"session_status": current.status, "booked": current.booked, "version": current.version},
        )
    schedule_changed(db)  # what the public search shows may have changed (status, times, capacity)
    return get_session(db, actor.institution_id, session_id)


def edit_session(db: Session, actor: Actor, session_id: int, data: SessionEditIn) -> ClinicSession:
    """Change a session nobody has booked (optimistic: the version the editor saw must be current)."""
    current = get_session(db, actor.institution_id, session_id)
    day = data.service_date or current.service_date
    start = data.start_time or _local_time(current.start_at)
    end = data.end_time or _local_time(current.end_at)
    policy.check_span("body.end_time", start, end)
    if data.service_date is not None:
        policy.check_day("body.service_date", day, local_today())
    values: dict[str, Any] = {}
    if data.start_time is not None or data.end_time is not None or data.service_date is not None:
        start_at, end_at = policy.local_span(day, start, end)
        if start_at <= utcnow():
            raise InvalidInput.field(
                "body.start_time", "in_the_past", "开始时间已过", "The start time has passed"
            )
        check_no_overlap(db, current.doctor_id, start_at, end_at, "body.start_time", exclude_id=session_id)
        values |= {"service_date": day, "start_at": start_at, "end_at": end_at}
    if data.capacity is not None:
        values["capacity"] = data.capacity
    if data.price_fen is not None:
        values["price_fen"] = data.price_fen
    if data.disease_tags is not None:
        values["disease_tags"] = policy.normalise_tags("body.disease_tags", data.disease_tags)
    if data.campus_id is not None:
        place(
            db,
            actor.institution_id,
            doctor_id=current.doctor_id,
            department_id=current.department_id,
            campus_id=data.campus_id,
            mode=current.mode,
        )
        values["campus_id"] = data.campus_id
    try:
        with db.begin_nested():
            session = guarded_update(
                db,
                actor,
                session_id,
                "edit",
                values,
                ClinicSession.booked == 0,
                ClinicSession.version == data.version,
            )
    except IntegrityError as exc:
        raise Conflict("该医师同一时间同一方式的出诊已存在", "The same session already exists") from exc
    audit.record(
        db,
        actor.audit(),
        "schedule.session.edit",
        resource_type=RESOURCE,
        resource_id=session_id,
        detail={"fields": sorted(values)},
    )
    return session


def _local_time(at: dt.datetime) -> dt.time:
    return at.astimezone(HOSPITAL_TZ).time()


def announce_assignment(db: Session, session: ClinicSession) -> None:
    """Tell the session's doctor they hold it (BJ 5.2.1; the notifications domain delivers it)."""
    outbox.emit(
        db,
        "scheduling.session_assigned",
        {"session_id": session.id, "institution_id": session.institution_id, "doctor_id": session.doctor_id},
        key=f"session:{session.id}:v{session.version}",
    )


def publish(db: Session, actor: Actor, session_id: int) -> ClinicSession:
    """draft -> published (patients may book it); the doctor is told of the assignment."""
    now = utcnow()
    current = get_session(db, actor.institution_id, session_id)
    try:
        scheduling_doctor(db, actor.institution_id, current.doctor_id, "doctor_id")
    except InvalidInput as exc:
        # The doctor was disabled or lost approval since the session was planned.
        raise Conflict(
            "该医师当前不能出诊，请先替诊", "The doctor cannot serve now; substitute first"
        ) from exc
    session = guarded_update(
        db,
        actor,
        session_id,
        "publish",
        {"status": policy.PUBLISHED, "published_at": now},
        ClinicSession.start_at > now,
    )
    announce_assignment(db, session)
    audit.record(
        db, actor.audit(), "schedule.session.publish", resource_type=RESOURCE, resource_id=session_id
    )
    return session


def unpublish(db: Session, actor: Actor, session_id: int) -> ClinicSession:
    """published -> draft, only while nothing is booked (otherwise stop it)."""
    session = guarded_update(
        db, actor, session_id, "unpublish", {"status": policy.DRAFT}, ClinicSession.booked == 0
    )
    audit.record(
        db, actor.audit(), "schedule.session.unpublish", resource_type=RESOURCE, resource_id=session_id
    )
    return session


@dataclass(frozen=True)
class SessionFilter:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    department_id: int | None = None
    doctor_id: int | None = None
    campus_id: int | None = None
    mode: str | None = None
    status: str | None = None


def filter_conditions(f: SessionFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.date_from is not None:
        conditions.append(ClinicSession.service_date >= f.date_from)
    if f.date_to is not None:
        conditions.append(ClinicSession.service_date <= f.date_to)
    for column, value in (
        (ClinicSession.department_id, f.department_id),
        (ClinicSession.doctor_id, f.doctor_id),
        (ClinicSession.campus_id, f.campus_id),
    ):
        if value is not None:
            conditions.append(column == value)
    if f.mode is not None:
        conditions.append(ClinicSession.mode == f.mode)
    if f.status is not None:
        conditions.append(ClinicSession.status == f.status)
    return conditions


def list_sessions(
    db: Session, institution_id: int, f: SessionFilter, *, limit: int, offset: int
) -> tuple[list[ClinicSession], int]:
    """The institution's sessions matching ``f`` (a calendar page), by start time."""
    where = and_(ClinicSession.institution_id == institution_id, *filter_conditions(f))
    total = db.scalar(select(func.count()).select_from(ClinicSession).where(where)) or 0
    rows = db.scalars(
        select(ClinicSession)
        .where(where)
        .order_by(ClinicSession.start_at, ClinicSession.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def _pairs(db: Session, stmt: Select[int, str]) -> dict[int, str]:
    return {row[0]: row[1] for row in db.execute(stmt)}


def session_outs(db: Session, sessions: Sequence[ClinicSession]) -> list[SessionOut]:
    """Console view of sessions with doctor, department and campus names (three queries)."""
    if not sessions:
        return []
    names = _pairs(
        db,
        select(UserAccount.id, UserAccount.display_name).where(
            UserAccount.id.in_({s.doctor_id for s in sessions})
        ),
    )
    departments = _pairs(
        db,
        select(Department.id, Department.name).where(Department.id.in_({s.department_id for s in sessions})),
    )
    campus_ids = {s.campus_id for s in sessions if s.campus_id is not None}
    campuses = (
        _pairs(db, select(Campus.id, Campus.name).where(Campus.id.in_(campus_ids))) if campus_ids else {}
    )
    return [
        SessionOut(
            id=s.id,
            doctor_id=s.doctor_id,
            doctor_name=names.get(s.doctor_id, ""),
            department_id=s.department_id,
            department_name=departments.get(s.department_id, ""),
            campus_id=s.campus_id,
            campus_name=campuses.get(s.campus_id) if s.campus_id is not None else None,
            service_date=s.service_date,
            start_at=s.start_at,
            end_at=s.end_at,
            mode=s.mode,
            capacity=s.capacity,
            booked=s.booked,
            remaining=s.remaining,
            price_fen=s.price_fen,
            disease_tags=s.tags,
            status=s.status,
            substituted_from_id=s.substituted_from_id,
            version=s.version,
            published_at=s.published_at,
            updated_at=s.updated_at,
        )
        for s in sessions
    ]
