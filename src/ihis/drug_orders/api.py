"""Patient endpoints: my drug orders (confirm, live timeline, pickup code, QR, refund request,
adverse reactions), my address book; quality staff read adverse-reaction reports."""

from __future__ import annotations

import io
from typing import Annotated

import qrcode
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from ihis.drug_orders import addresses, aftercare, ordering, refunds, views
from ihis.drug_orders.payment import patient_name
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
from ihis.platform import audit
from ihis.platform.errors import Forbidden
from ihis.platform.http import AppSettings, Db, ReadDb
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
    order_id: int, body: ConfirmIn, actor: ConsentedPatient, db: Db, settings: AppSettings
) -> PatientOrderOut:
    """Confirm drugs, pickup and address: the drug bill is created (pay at /me/bills/{id}/pay)."""
    order = ordering.confirm(
        db,
        actor,
        order_id,
        settings,
        pickup=body.pickup,
        address_id=body.address_id,
        pharmacy_id=body.pharmacy_id,
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


@router.get("/quality/adverse-reactions", response_model=list[ReactionOut])
def adverse_reactions(actor: QualityActor, db: ReadDb) -> list[ReactionOut]:
    """Adverse-reaction reports of the institution, newest first (audited read)."""
    rows = aftercare.reactions_for_quality(db, actor)
    audit.record(
        db,
        actor.audit(),
        "adverse_reaction.list",
        resource_type="adverse_reaction_report",
        detail={"count": len(rows)},
    )
    return [
        ReactionOut(
            id=r.id,
            order_id=o.id,
            number=o.number,
            patient_name=mask_name(patient_name(db, o)),
            description=r.description,
            onset_date=r.onset_date,
            severity=r.severity,
            reported_at=r.reported_at,
        )
        for r, o in rows
    ]
