"""Scheduling HTTP API (paths relative to /api/v1): console operations, a doctor's own sessions, and
the public slot search of the patient end."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ihis.identity.access import Actor, Permission, Role, current_actor, require
from ihis.organization.models import ServiceMode
from ihis.platform.clock import local_today
from ihis.platform.errors import Forbidden, PayloadTooLarge
from ihis.platform.http import AppSettings, Db, ReadDb, get_database, institution_code
from ihis.scheduling import changes, import_service, search, service, templates
from ihis.scheduling.cache import SearchCache, seen
from ihis.scheduling.models import ClinicSession, SessionStatus, WeeklyTemplate
from ihis.scheduling.schemas import (
    AddSlotsIn,
    GenerateIn,
    GenerateOut,
    ImportReportOut,
    PublicSessionPage,
    SessionChangeOut,
    SessionEditIn,
    SessionIn,
    SessionOut,
    SessionPage,
    ShiftIn,
    StopIn,
    SubstituteIn,
    TemplateIn,
    TemplateOut,
)
from ihis.settings import Settings
from ihis.tenancy.service import institution_by_code

router = APIRouter(tags=["scheduling"])

Scheduler = Annotated[Actor, Depends(require(Permission.SCHEDULE_MANAGE))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ADMIN = "/admin/scheduling"


def doctor_actor(request: Request) -> Actor:
    """A signed-in staff member holding the doctor role."""
    actor = current_actor(request)
    if not actor.is_staff or Role.DOCTOR.value not in actor.roles:
        raise Forbidden("仅医师可用", "Doctors only")
    return actor


DoctorActor = Annotated[Actor, Depends(doctor_actor)]


def _one(db: Session, session: ClinicSession) -> SessionOut:
    return service.session_outs(db, [session])[0]


def _template_out(t: WeeklyTemplate) -> TemplateOut:
    return TemplateOut(
        id=t.id,
        doctor_id=t.doctor_id,
        department_id=t.department_id,
        campus_id=t.campus_id,
        weekday=t.weekday,
        start_time=t.start_time,
        end_time=t.end_time,
        mode=ServiceMode(t.mode),
        capacity=t.capacity,
        price_fen=t.price_fen,
        disease_tags=[x for x in t.disease_tags.split(",") if x],
    )


# --- sessions (operations) ---------------------------------------------------------------------


@router.post(f"{ADMIN}/sessions", response_model=SessionOut, status_code=201)
def create_session(body: SessionIn, actor: Scheduler, db: Db) -> SessionOut:
    """Create one draft session."""
    return _one(db, service.create_session(db, actor, body))


@router.get(f"{ADMIN}/sessions", response_model=SessionPage)
def list_sessions(
    actor: Scheduler,
    db: ReadDb,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    department_id: int | None = None,
    doctor_id: int | None = None,
    campus_id: int | None = None,
    mode: ServiceMode | None = None,
    status: SessionStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SessionPage:
    """The calendar: sessions by department, doctor, date range, campus, mode and status."""
    search.check_dates(date_from, date_to)
    f = service.SessionFilter(
        date_from,
        date_to,
        department_id,
        doctor_id,
        campus_id,
        mode.value if mode else None,
        status.value if status else None,
    )
    rows, total = service.list_sessions(db, actor.institution_id, f, limit=limit, offset=offset)
    return SessionPage(items=service.session_outs(db, rows), total=total, limit=limit, offset=offset)


@router.get(f"{ADMIN}/sessions/{{session_id}}", response_model=SessionOut)
def get_session(session_id: int, actor: Scheduler, db: ReadDb) -> SessionOut:
    """One session."""
    return _one(db, service.get_session(db, actor.institution_id, session_id))


@router.patch(f"{ADMIN}/sessions/{{session_id}}", response_model=SessionOut)
def edit_session(session_id: int, body: SessionEditIn, actor: Scheduler, db: Db) -> SessionOut:
    """Edit a session nobody has booked (409 once booked or if the version is stale)."""
    return _one(db, service.edit_session(db, actor, session_id, body))


@router.post(f"{ADMIN}/sessions/{{session_id}}/publish", response_model=SessionOut)
def publish(session_id: int, actor: Scheduler, db: Db) -> SessionOut:
    """draft -> published; the doctor is told."""
    return _one(db, service.publish(db, actor, session_id))


@router.post(f"{ADMIN}/sessions/{{session_id}}/unpublish", response_model=SessionOut)
def unpublish(session_id: int, actor: Scheduler, db: Db) -> SessionOut:
    """published -> draft, only while nothing is booked."""
    return _one(db, service.unpublish(db, actor, session_id))


@router.post(f"{ADMIN}/sessions/{{session_id}}/stop", response_model=SessionOut)
def stop(session_id: int, body: StopIn, actor: Scheduler, db: Db) -> SessionOut:
    """停诊: stop the session; its registrations will be cancelled and refunded."""
    return _one(db, changes.stop(db, actor, session_id, body))


@router.post(f"{ADMIN}/sessions/{{session_id}}/substitute", response_model=SessionOut)
def substitute(session_id: int, body: SubstituteIn, actor: Scheduler, db: Db) -> SessionOut:
    """替诊: another doctor of the same department takes the session."""
    return _one(db, changes.substitute(db, actor, session_id, body))


@router.post(f"{ADMIN}/sessions/{{session_id}}/add-slots", response_model=SessionOut)
def add_slots(session_id: int, body: AddSlotsIn, actor: Scheduler, db: Db) -> SessionOut:
    """加号: raise the capacity."""
    return _one(db, changes.add_slots(db, actor, session_id, body))


@router.post(f"{ADMIN}/sessions/{{session_id}}/shift", response_model=SessionOut)
def shift(session_id: int, body: ShiftIn, actor: Scheduler, db: Db) -> SessionOut:
    """Move the session to other times of its day."""
    return _one(db, changes.shift(db, actor, session_id, body))


@router.get(f"{ADMIN}/sessions/{{session_id}}/changes", response_model=list[SessionChangeOut])
def session_changes(session_id: int, actor: Scheduler, db: ReadDb) -> list[SessionChangeOut]:
    """The temporary changes of a session, oldest first."""
    return [
        SessionChangeOut(
            id=c.id,
            kind=c.kind,
            actor_id=c.actor_id,
            occurred_at=c.occurred_at,
            reason=c.reason,
            before=json.loads(c.before),
            after=json.loads(c.after),
        )
        for c in changes.changes_of(db, actor, session_id)
    ]


# --- import -------------------------------------------------------------------------------------


@router.get(f"{ADMIN}/import-template", response_class=Response)
def import_template(actor: Scheduler) -> Response:
    """The xlsx template of the session import (columns in docs/scheduling.md)."""
    return Response(
        import_service.template_xlsx(),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="session-import-template.xlsx"'},
    )


@router.post(f"{ADMIN}/import", response_model=ImportReportOut, status_code=201)
def import_sessions(
    actor: Scheduler,
    db: Db,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="xlsx or csv, one session per row")],
) -> ImportReportOut:
    """Create draft sessions from a file: all rows or none, with a row-by-row error report."""
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge()
    rows = import_service.read_rows(file.filename, data)
    planned = import_service.plan_import(db, actor, rows)
    ids = import_service.apply_import(db, actor, planned)
    return ImportReportOut(created=len(ids), session_ids=ids)


# --- weekly templates ---------------------------------------------------------------------------


@router.get(f"{ADMIN}/templates", response_model=list[TemplateOut])
def list_templates(
    actor: Scheduler, db: ReadDb, doctor_id: int | None = None, department_id: int | None = None
) -> list[TemplateOut]:
    """Weekly templates."""
    rows = templates.list_templates(db, actor, doctor_id=doctor_id, department_id=department_id)
    return [_template_out(t) for t in rows]


@router.post(f"{ADMIN}/templates", response_model=TemplateOut, status_code=201)
def create_template(body: TemplateIn, actor: Scheduler, db: Db) -> TemplateOut:
    """A new weekly template."""
    return _template_out(templates.create_template(db, actor, body))


@router.put(f"{ADMIN}/templates/{{template_id}}", response_model=TemplateOut)
def update_template(template_id: int, body: TemplateIn, actor: Scheduler, db: Db) -> TemplateOut:
    """Replace a weekly template."""
    return _template_out(templates.update_template(db, actor, template_id, body))


@router.delete(f"{ADMIN}/templates/{{template_id}}", status_code=204)
def delete_template(template_id: int, actor: Scheduler, db: Db) -> Response:
    """Remove a weekly template (generated sessions stay)."""
    templates.delete_template(db, actor, template_id)
    return Response(status_code=204)


@router.post(f"{ADMIN}/templates/generate", response_model=GenerateOut)
def generate(body: GenerateIn, actor: Scheduler, db: Db) -> GenerateOut:
    """Draft sessions from the templates for a date range (idempotent)."""
    result = templates.generate(db, actor, body)
    return GenerateOut(created=len(result.created), skipped=result.skipped, session_ids=result.created)


# --- doctors ------------------------------------------------------------------------------------


@router.get("/me/sessions", response_model=list[SessionOut])
def my_sessions(
    actor: DoctorActor, db: ReadDb, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> list[SessionOut]:
    """The signed-in doctor's published and stopped sessions in a date range."""
    rows = search.own_sessions(db, actor.institution_id, actor.user_id, date_from, date_to)
    return service.session_outs(db, rows)


# --- public search ------------------------------------------------------------------------------


def search_cache(request: Request) -> SearchCache:
    """This app's cache of public search pages (made on first use; one per app, so per test)."""
    cache: SearchCache | None = getattr(request.app.state, "search_cache", None)
    if cache is None:
        cache = request.app.state.search_cache = SearchCache()
    return cache


def _read_page(
    request: Request,
    cache: SearchCache,
    key: tuple[object, ...],
    code: str,
    f: search.PublicFilter,
    limit: int,
    offset: int,
) -> bytes:
    """A miss: one read unit (institution, then the page), serialized and offered to the cache."""
    settings: Settings = request.app.state.settings
    read_from = seen()  # before the read: a change committed meanwhile is checked on put
    with get_database(request).unit_of_work(write=False) as db:
        inst = institution_by_code(db, code)
        result = search.search(db, inst.id, settings, f, limit=limit, offset=offset)
    page = PublicSessionPage(items=result.items, total=result.total, limit=limit, offset=offset)
    body = page.model_dump_json().encode()
    cache.put(
        key,
        read_from,
        body,
        session_ids=frozenset(item.id for item in result.items),
        counts_matter=f.available_only,
        earliest_start=result.earliest_start,
    )
    return body


async def _public_page(request: Request, f: search.PublicFilter, limit: int, offset: int) -> Response:
    """A search page: a hit is answered on the event loop (no thread hop, no database); a miss reads
    in the thread pool. Measured in docs/performance.md ("Slot search")."""
    search.check_dates(f.date_from, f.date_to)
    cache = search_cache(request)
    code = institution_code(request)
    key = (code, local_today(), f, limit, offset)
    body = cache.get(key)
    if body is None:
        body = await run_in_threadpool(_read_page, request, cache, key, code, f, limit, offset)
    return Response(body, media_type="application/json")


@router.get(
    "/public/sessions",
    response_model=PublicSessionPage,
)
async def public_sessions(
    request: Request,
    department_id: int | None = None,
    doctor_id: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    mode: ServiceMode | None = None,
    max_price_fen: Annotated[int | None, Query(ge=0)] = None,
    campus_id: int | None = None,
    available_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Sessions open for booking, soonest first (published, not started, inside the window)."""
    # Served from a short-lived cache (docs/scheduling.md "Search cache"): remaining counts may lag a
    # booking made through another API process by at most the cache TTL.
    f = search.PublicFilter(
        department_id,
        doctor_id,
        date_from,
        date_to,
        mode.value if mode else None,
        max_price_fen,
        campus_id,
        available_only,
    )
    return await _public_page(request, f, limit, offset)


@router.get(
    "/public/doctors/{user_id}/sessions",
    response_model=PublicSessionPage,
)
async def public_doctor_sessions(
    user_id: int,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """A doctor page's next sessions (by the doctor's account id)."""
    return await _public_page(request, search.PublicFilter(doctor_id=user_id), limit, 0)
