"""Pharmacist endpoints (``/pharmacy/...``): duty check-in/out and board, the review queue, claim,
the review screen with the integrity verdict, approve with the PIN, reject with a reason."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select

from ihis.identity.access import Actor, Permission, require
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db, ReadDb, get_database
from ihis.prescribing import review, views
from ihis.prescribing.models import PENDING_REVIEW, PharmacistDuty, Prescription
from ihis.prescribing.schemas import (
    ApproveIn,
    DutyBoardOut,
    DutyOut,
    IntegrityOut,
    PrescriptionOut,
    RejectIn,
    ReviewOut,
)

router = APIRouter(prefix="/pharmacy", tags=["prescription review"])
Reviewer = Annotated[Actor, Depends(require(Permission.RX_REVIEW))]
DutyReader = Annotated[Actor, Depends(require(Permission.PHARMACY_DUTY_READ))]


def _duty_out(duty: PharmacistDuty, name: str) -> DutyOut:
    return DutyOut(
        pharmacist_id=duty.pharmacist_id,
        pharmacist_name=name,
        started_at=duty.started_at,
        ended_at=duty.ended_at,
    )


@router.get("/duty", response_model=DutyBoardOut)
def duty_board(actor: DutyReader, db: ReadDb, settings: AppSettings) -> DutyBoardOut:
    """Who is on duty now; ``unstaffed`` during business hours with nobody checked in."""
    board = review.duty_board(db, actor.institution_id)
    hours = review.in_business_hours(utcnow(), settings.review_business_hours)
    waiting = db.scalar(
        select(func.count())
        .select_from(Prescription)
        .where(Prescription.institution_id == actor.institution_id, Prescription.status == PENDING_REVIEW)
    )
    mine = next((_duty_out(d, n) for d, n in board if d.pharmacist_id == actor.user_id), None)
    return DutyBoardOut(
        on_duty=[_duty_out(d, n) for d, n in board],
        in_business_hours=hours,
        unstaffed=hours and not board,
        waiting=waiting or 0,
        me=mine,
    )


@router.post("/duty/check-in", response_model=DutyOut)
def check_in(actor: Reviewer, db: Db) -> DutyOut:
    """Start a duty shift (idempotent)."""
    return _duty_out(review.check_in(db, actor), actor.display_name)


@router.post("/duty/check-out", response_model=DutyOut)
def check_out(actor: Reviewer, db: Db) -> DutyOut:
    """End the shift; claimed prescriptions return to the queue."""
    return _duty_out(review.check_out(db, actor), actor.display_name)


@router.get("/reviews", response_model=list[PrescriptionOut])
def queue(
    actor: Reviewer,
    db: ReadDb,
    status: Annotated[
        Literal["pending_review", "under_review", "approved", "rejected"] | None, Query()
    ] = None,
) -> list[PrescriptionOut]:
    """The review queue, first come first served (waiting and claimed unless ``status`` says)."""
    return views.outs(db, review.queue(db, actor, status))


def _review_out(db: ReadDb, actor: Actor, rx: Prescription) -> ReviewOut:
    verdict = (
        review.check_integrity(db, actor, rx) if rx.status in ("pending_review", "under_review") else None
    )
    integrity = (
        IntegrityOut(**verdict.as_dict())
        if verdict
        else IntegrityOut(ok=True, failures=[], document_id=rx.signed_document_id)
    )
    return ReviewOut(
        prescription=views.outs(db, [rx], with_timeline=True)[0],
        integrity=integrity,
        checklist_items=list(review.CHECKLIST),
    )


@router.get("/reviews/{rx_id}", response_model=ReviewOut)
def review_screen(rx_id: int, actor: Reviewer, db: ReadDb) -> ReviewOut:
    """The prescription, findings with the doctor's override reasons, and whether it is unaltered."""
    return _review_out(db, actor, review.reviewable(db, actor, rx_id))


@router.post("/reviews/{rx_id}/claim", response_model=ReviewOut)
def claim(rx_id: int, actor: Reviewer, db: Db) -> ReviewOut:
    """Take it (409 if another pharmacist did first, or you are not checked in)."""
    return _review_out(db, actor, review.claim(db, actor, rx_id))


@router.post("/reviews/{rx_id}/release", response_model=PrescriptionOut)
def release(rx_id: int, actor: Reviewer, db: Db) -> PrescriptionOut:
    """Put it back in the queue."""
    return views.outs(db, [review.release(db, actor, rx_id)])[0]


@router.post("/reviews/{rx_id}/approve", response_model=PrescriptionOut)
def approve(rx_id: int, body: ApproveIn, actor: Reviewer, request: Request) -> PrescriptionOut:
    """Approve: every 四查十对 item, the integrity check, the pharmacist's signature and time stamp."""
    database = get_database(request)
    review.approve(database, actor, rx_id, body.pin, body.checklist)
    with database.unit_of_work(write=False) as db:
        return views.outs(db, [review.reviewable(db, actor, rx_id)], with_timeline=True)[0]


@router.post("/reviews/{rx_id}/reject", response_model=PrescriptionOut)
def reject(rx_id: int, body: RejectIn, actor: Reviewer, db: Db) -> PrescriptionOut:
    """Reject with a reason: back to the doctor, who revises or withdraws."""
    return views.outs(db, [review.reject(db, actor, rx_id, body.reason, body.checklist)], with_timeline=True)[
        0
    ]
