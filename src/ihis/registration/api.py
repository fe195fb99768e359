"""Registration endpoints: the patient books, reads and cancels; the doctor reads the waiting list;
operations search, export and keep the blacklist (contract: docs/registration.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ihis.identity.access import Actor, Permission, require
from ihis.identity.consent import ConsentedPatient
from ihis.platform.clock import local_today
from ihis.platform.http import AppSettings, Db, ReadDb
from ihis.registration import blacklist, booking, lifecycle, views
from ihis.registration.schemas import (
    AppealIn,
    AppealOut,
    BlockAdminOut,
    BlockOut,
    BlockPage,
    BookingIn,
    CancelIn,
    DecideIn,
    LiftIn,
    MyBlockOut,
    RegistrationAdminPage,
    RegistrationDetailOut,
    RegistrationOut,
    RegistrationPage,
    RegistrationStatus,
    WaitingListEntry,
)
from ihis.scheduling.api import DoctorActor

router = APIRouter(tags=["registration"])
Operations = Annotated[Actor, Depends(require(Permission.SCHEDULE_MANAGE))]
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=100)]


# --- the patient -------------------------------------------------------------------------------------


@router.post("/me/registrations", response_model=RegistrationOut, status_code=201)
def book(body: BookingIn, actor: ConsentedPatient, db: Db, settings: AppSettings) -> RegistrationOut:
    """Hold a slot and open the bill (pay it next at ``/me/bills/{bill_id}/pay``; DOMAIN §3)."""
    request = booking.BookingRequest(
        body.session_id, body.visitor_id, body.evidence_id, body.guardian_accompanied
    )
    return views.patient_out(db, booking.book(db, actor, request, settings))


@router.get("/me/registrations", response_model=RegistrationPage)
def my_registrations(
    actor: ConsentedPatient,
    db: ReadDb,
    status: RegistrationStatus | None = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> RegistrationPage:
    """The caller's registrations, newest first."""
    rows, total = views.mine(db, actor, status, offset=offset, limit=limit)
    return RegistrationPage(items=[views.patient_out(db, r) for r in rows], total=total)


@router.get("/me/registrations/{registration_id}", response_model=RegistrationDetailOut)
def my_registration(registration_id: int, actor: ConsentedPatient, db: ReadDb) -> RegistrationDetailOut:
    """One own registration with refund progress (anyone else's: 404)."""
    return views.detail(db, lifecycle.own_registration(db, actor, registration_id))


@router.post("/me/registrations/{registration_id}/cancel", response_model=RegistrationDetailOut)
def cancel(registration_id: int, body: CancelIn, actor: ConsentedPatient, db: Db) -> RegistrationDetailOut:
    """Cancel before the visit starts; a paid fee is refunded by the original channel (BJ 5.1.3.1)."""
    return views.detail(db, lifecycle.cancel_by_patient(db, actor, registration_id, body.reason))


@router.get("/me/booking-block", response_model=MyBlockOut)
def my_block(actor: ConsentedPatient, db: ReadDb) -> MyBlockOut:
    """Whether the caller may book, and their appeals."""
    block, appeals = blacklist.my_block(db, actor)
    return MyBlockOut(
        blocked=block is not None,
        block=BlockOut.model_validate(block) if block else None,
        appeals=[AppealOut.model_validate(a) for a in appeals],
    )


@router.post("/me/booking-block/appeal", response_model=AppealOut, status_code=201)
def appeal(body: AppealIn, actor: ConsentedPatient, db: Db) -> AppealOut:
    """Appeal the active block (operations review it)."""
    return AppealOut.model_validate(blacklist.appeal(db, actor, body.reason))


# --- the doctor ----------------------------------------------------------------------------------------


@router.get("/me/sessions/{session_id}/waiting-list", response_model=list[WaitingListEntry])
def waiting_list(session_id: int, actor: DoctorActor, db: Db) -> list[WaitingListEntry]:
    """The doctor's own session: paid patients by queue number (BJ 5.2.1)."""
    return views.waiting_list(db, actor, session_id)


# --- operations --------------------------------------------------------------------------------------


def _filter(
    department_id: int | None = None,
    doctor_id: int | None = None,
    session_id: int | None = None,
    status: RegistrationStatus | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> views.RegistrationFilter:
    return views.RegistrationFilter(department_id, doctor_id, session_id, status, date_from, date_to)


Filter = Annotated[views.RegistrationFilter, Depends(_filter)]


@router.get("/admin/registrations", response_model=RegistrationAdminPage)
def admin_registrations(
    actor: Operations, db: ReadDb, f: Filter, offset: Offset = 0, limit: Limit = 20
) -> RegistrationAdminPage:
    """Registrations of the institution with filters, newest first."""
    rows, total = views.search(db, actor, f, offset=offset, limit=limit)
    return RegistrationAdminPage(items=views.outs(db, rows, admin=True), total=total)


@router.get("/admin/registrations/export", response_class=Response)
def export_registrations(
    actor: Operations, db: Db, f: Filter, format: Literal["xlsx", "csv"] = "xlsx"
) -> Response:
    """The filtered registrations as a spreadsheet (names masked; audited)."""
    data, media_type = views.export(db, actor, f, format)
    filename = f"registrations-{local_today():%Y%m%d}.{format}"
    return Response(
        data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/admin/registrations/{registration_id}", response_model=RegistrationDetailOut)
def admin_registration(registration_id: int, actor: Operations, db: ReadDb) -> RegistrationDetailOut:
    """One registration with its refunds."""
    return views.detail(db, views.get_admin(db, actor, registration_id), admin=True)


@router.get("/admin/booking-blocks", response_model=BlockPage)
def admin_blocks(
    actor: Operations,
    db: ReadDb,
    status: Literal["active", "lifted", "expired"] | None = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> BlockPage:
    """The blacklist (爽约黑名单) with each block's pending appeal."""
    rows, total = blacklist.list_blocks(db, actor, status, offset=offset, limit=limit)
    appeals = blacklist.pending_appeals(db, [b.id for b in rows])
    people = blacklist.account_briefs(db, [b.account_id for b in rows])
    items = [
        BlockAdminOut.model_validate(
            {
                **BlockOut.model_validate(b).model_dump(),
                "account_id": b.account_id,
                "patient_name_masked": people.get(b.account_id, (None, None))[0],
                "phone_masked": people.get(b.account_id, (None, None))[1],
                "pending_appeal": AppealOut.model_validate(appeals[b.id]) if b.id in appeals else None,
            }
        )
        for b in rows
    ]
    return BlockPage(items=items, total=total)


@router.post("/admin/booking-blocks/{block_id}/lift", response_model=BlockOut)
def lift_block(block_id: int, body: LiftIn, actor: Operations, db: Db) -> BlockOut:
    """Lift a block by hand, with a reason (audited)."""
    return BlockOut.model_validate(blacklist.lift(db, actor, block_id, body.reason))


@router.post("/admin/booking-appeals/{appeal_id}/decide", response_model=AppealOut)
def decide_appeal(appeal_id: int, body: DecideIn, actor: Operations, db: Db) -> AppealOut:
    """Approve (lifts the block) or reject an appeal, with a note (audited)."""
    return AppealOut.model_validate(blacklist.decide_appeal(db, actor, appeal_id, body.approve, body.note))
