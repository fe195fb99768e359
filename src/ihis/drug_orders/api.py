"""Patient endpoints: my drug orders (confirm, live timeline, pickup code, QR, refund request,
adverse reactions), my address book; quality staff read, review and report adverse-reaction reports."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from ihis.drug_orders import addresses, aftercare, ordering, refunds, settlement, views
from ihis.drug_orders.models import AdverseReaction, DrugOrder
from ihis.drug_orders.payment import patient_name
from ihis.drug_orders.quality_schemas import NationalReportIn, QualityReactionOut, ReactionReviewIn
from ihis.drug_orders.schemas import (
    AddressIn,
    AddressOut,
    ConfirmIn,
    OrderOut,
    PatientOrderOut,
    PickupPharmacyOut,
    ReactionIn,
    ReactionOut,
    RefundRequestIn,
)
from ihis.formulary.models import Pharmacy
from ihis.identity.access import Actor, Role, current_actor
from ihis.identity.consent import ConsentedPatient
from ihis.identity.models import UserAccount
from ihis.platform import audit
from ihis.platform.errors import Forbidden
from ihis.platform.http import AppSettings, Db, ReadDb, get_database
from ihis.platform.masking import mask_name

router = APIRouter(tags=["drug-orders"])


def _read_audit(db: Db | ReadDb, actor: Actor, order_id: int, visitor_id: int) -> None:
    audit.record(
        db,
        actor.audit(),
        "drug_order.read",
        resource_type="drug_order",
        resource_id=order_id,
        patient_id=visitor_id,
    )


@router.get("/me/drug-orders", response_model=list[OrderOut])
def my_orders(actor: ConsentedPatient, db: ReadDb) -> list[OrderOut]:
    """The caller's drug orders, newest first."""
    return [views.summary(db, o) for o in ordering.own_orders(db, actor)]


@router.get("/me/drug-orders/{order_id}", response_model=PatientOrderOut)
def my_order(order_id: int, actor: ConsentedPatient, db: ReadDb) -> PatientOrderOut:
    """One own order: timeline, courier events, pickup code and, after sign-off, guidance."""
    order = ordering.own_order(db, actor, order_id)
    _read_audit(db, actor, order.id, order.visitor_id)
    return views.patient_out(db, order)


@router.post("/me/drug-orders/{order_id}/confirm", response_model=PatientOrderOut)
def confirm(
    order_id: int, body: ConfirmIn, actor: ConsentedPatient, request: Request, settings: AppSettings
) -> PatientOrderOut:
    """Confirm drugs, pickup and address: the drug bill is created (pay at /me/bills/{id}/pay). An
    insured visitor's order is pre-settled first, with no transaction open during the platform call."""
    database = get_database(request)
    pickup, address_id, pharmacy_id = body.pickup, body.address_id, body.pharmacy_id
    with database.unit_of_work(write=False) as db:
        asked = ordering.confirmation_request(
            db,
            actor,
            order_id,
            pickup=pickup,
            address_id=address_id,
            pharmacy_id=pharmacy_id,
            self_pay=body.self_pay,
        )
    parts = settlement.split(asked, settings)
    with database.unit_of_work() as db:
        order = ordering.confirm(
            db,
            actor,
            order_id,
            settings,
            pickup=pickup,
            address_id=address_id,
            pharmacy_id=pharmacy_id,
            parts=parts,
        )
        return views.patient_out(db, order)


@router.post("/me/drug-orders/{order_id}/cancel", response_model=PatientOrderOut)
def cancel(order_id: int, actor: ConsentedPatient, db: Db) -> PatientOrderOut:
    """Cancel before paying (after payment: the refund request)."""
    return views.patient_out(db, ordering.cancel(db, actor, order_id))


@router.get("/me/drug-orders/{order_id}/qr", response_class=Response)
def prescription_qr(order_id: int, actor: ConsentedPatient, db: ReadDb) -> Response:
    """A PNG QR code of the prescription number, shown at the window."""
    order = ordering.own_order(db, actor, order_id)
    buffer = io.BytesIO()
    import qrcode  # on first use: qrcode's PNG output loads PIL (~8 MB)

    qrcode.make(order.number, box_size=8, border=2).save(buffer)
    return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/me/drug-orders/{order_id}/refund-request", response_model=PatientOrderOut)
def refund_request(order_id: int, body: RefundRequestIn, actor: ConsentedPatient, db: Db) -> PatientOrderOut:
    """Ask for a refund before courier handover; the pharmacy decides (BJ 5.4.2.1)."""
    return views.patient_out(db, refunds.request(db, actor, order_id, body.reason))


@router.post("/me/drug-orders/{order_id}/adverse-reactions", response_model=ReactionOut, status_code=201)
def report_reaction(order_id: int, body: ReactionIn, actor: ConsentedPatient, db: Db) -> ReactionOut:
    """Report an adverse drug reaction (after sign-off); quality staff see it."""
    row = aftercare.report_reaction(
        db, actor, order_id, description=body.description, onset_date=body.onset_date, severity=body.severity
    )
    order = ordering.own_order(db, actor, order_id)
    return ReactionOut(
        id=row.id,
        order_id=row.order_id,
        number=order.number,
        patient_name=None,
        description=row.description,
        onset_date=row.onset_date,
        severity=row.severity,
        reported_at=row.reported_at,
    )


@router.get("/me/pickup-pharmacies", response_model=list[PickupPharmacyOut])
def pickup_pharmacies(actor: ConsentedPatient, db: ReadDb) -> list[PickupPharmacyOut]:
    """The active partner pharmacies of the hospital (for ``pickup: partner_pharmacy``)."""
    rows = db.scalars(
        select(Pharmacy)
        .where(
            Pharmacy.institution_id == actor.institution_id,
            Pharmacy.kind == "supplier",
            Pharmacy.active.is_(True),
        )
        .order_by(Pharmacy.name)
    )
    return [PickupPharmacyOut(id=p.id, name=p.name, address=p.address) for p in rows]


# --- address book ---------------------------------------------------------------------------------


@router.get("/me/addresses", response_model=list[AddressOut])
def my_addresses(actor: ConsentedPatient, db: ReadDb) -> list[AddressOut]:
    """The caller's address book (phone and detail masked; the read is audited)."""
    rows = addresses.own_addresses(db, actor)
    audit.record(
        db,
        actor.audit(),
        "patient_address.list",
        resource_type="patient_address",
        detail={"count": len(rows)},
    )
    return [views.address_out(a) for a in rows]


@router.post("/me/addresses", response_model=AddressOut, status_code=201)
def add_address(body: AddressIn, actor: ConsentedPatient, db: Db) -> AddressOut:
    """Add an address (at most 20)."""
    return views.address_out(addresses.create(db, actor, **body.model_dump()))


@router.put("/me/addresses/{address_id}", response_model=AddressOut)
def change_address(address_id: int, body: AddressIn, actor: ConsentedPatient, db: Db) -> AddressOut:
    """Replace an address."""
    return views.address_out(addresses.change(db, actor, address_id, **body.model_dump()))


@router.delete("/me/addresses/{address_id}", status_code=204)
def remove_address(address_id: int, actor: ConsentedPatient, db: Db) -> Response:
    """Remove an address from the book."""
    addresses.remove(db, actor, address_id)
    return Response(status_code=204)


# --- quality ----------------------------------------------------------------------------------------


def quality_actor(request: Request) -> Actor:
    """A signed-in staff member holding the quality role."""
    actor = current_actor(request)
    if not actor.is_staff or Role.QUALITY.value not in actor.roles:
        raise Forbidden("仅质控人员可用", "Quality staff only")
    return actor


QualityActor = Annotated[Actor, Depends(quality_actor)]


def _names(db: Db | ReadDb, reports: list[AdverseReaction]) -> dict[int, str]:
    ids = {i for r in reports for i in (r.reviewed_by, r.national_reported_by) if i is not None}
    if not ids:
        return {}
    rows = db.execute(select(UserAccount.id, UserAccount.display_name).where(UserAccount.id.in_(ids)))
    return {int(i): str(name) for i, name in rows}


def _quality_out(
    db: Db | ReadDb, report: AdverseReaction, order: DrugOrder, names: dict[int, str]
) -> QualityReactionOut:
    return QualityReactionOut(
        id=report.id,
        order_id=order.id,
        number=order.number,
        prescription_id=order.prescription_id,
        patient_name=mask_name(patient_name(db, order)),
        drug_names=[line.drug_name for line in ordering.lines_of(db, order.id)],
        description=report.description,
        onset_date=report.onset_date,
        severity=report.severity,
        reported_at=report.reported_at,
        status=report.status,
        reviewed_by_name=names.get(report.reviewed_by) if report.reviewed_by else None,
        reviewed_at=report.reviewed_at,
        review_note=report.review_note,
        national_report_no=report.national_report_no,
        national_reported_by_name=(
            names.get(report.national_reported_by) if report.national_reported_by else None
        ),
        national_reported_at=report.national_reported_at,
    )


def _one_out(db: Db | ReadDb, report: AdverseReaction, order: DrugOrder) -> QualityReactionOut:
    return _quality_out(db, report, order, _names(db, [report]))


@router.get("/quality/adverse-reactions", response_model=list[QualityReactionOut])
def adverse_reactions(
    actor: QualityActor,
    db: ReadDb,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    severity: str | None = None,
    status: str | None = None,
) -> list[QualityReactionOut]:
    """Adverse-reaction reports of the institution, newest first, by reporting date, severity and
    handling status (new / reviewed / reported) (audited read)."""
    rows = aftercare.reactions_for_quality(
        db, actor, date_from=date_from, date_to=date_to, severity=severity, status=status
    )
    audit.record(
        db,
        actor.audit(),
        "adverse_reaction.list",
        resource_type="adverse_reaction_report",
        detail={"count": len(rows)},
    )
    names = _names(db, [r for r, _ in rows])
    return [_quality_out(db, r, o, names) for r, o in rows]


@router.get("/quality/adverse-reactions/{report_id}", response_model=QualityReactionOut)
def adverse_reaction(report_id: int, actor: QualityActor, db: ReadDb) -> QualityReactionOut:
    """One adverse-reaction report (audited read, with the patient)."""
    report, order = aftercare.reaction_for_quality(db, actor, report_id)
    audit.record(
        db,
        actor.audit(),
        "adverse_reaction.read",
        resource_type="adverse_reaction_report",
        resource_id=report.id,
        patient_id=order.visitor_id,
    )
    return _one_out(db, report, order)


@router.post("/quality/adverse-reactions/{report_id}/review", response_model=QualityReactionOut)
def review_adverse_reaction(
    report_id: int, body: ReactionReviewIn, actor: QualityActor, db: Db
) -> QualityReactionOut:
    """评价: a new report is assessed with a note (``new -> reviewed``; audited with the patient)."""
    report, order = aftercare.review(db, actor, report_id, body.note)
    return _one_out(db, report, order)


@router.post("/quality/adverse-reactions/{report_id}/national-report", response_model=QualityReactionOut)
def report_adverse_reaction(
    report_id: int, body: NationalReportIn, actor: QualityActor, db: Db
) -> QualityReactionOut:
    """上报: a reviewed report was filed with the national ADR monitoring system under ``report_no``
    (``reviewed -> reported``; audited with the patient)."""
    report, order = aftercare.report_nationally(db, actor, report_id, body.report_no, body.note)
    return _one_out(db, report, order)
