"""Shaping orders for the patient and for the pharmacy (personal data masked)."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from ihis.drug_orders import aftercare, lifecycle, ordering, pickup
from ihis.drug_orders.models import DELIVERY, SIGNED_OFF, DrugOrder, PatientAddress
from ihis.drug_orders.payment import patient_name
from ihis.drug_orders.pharmacy import shipment_ref
from ihis.drug_orders.schemas import (
    AddressOut,
    EventOut,
    LineOut,
    OrderOut,
    PatientOrderOut,
    PharmacyOrderOut,
)
from ihis.integrations.logistics import service as logistics
from ihis.platform.masking import mask_address, mask_name, mask_phone


def address_out(row: PatientAddress) -> AddressOut:
    return AddressOut(
        id=row.id,
        recipient=mask_name(row.recipient),
        phone=mask_phone(row.phone),
        region=row.region,
        detail=mask_address(row.detail),
        is_default=row.is_default,
    )


def _base(db: Session, order: DrugOrder) -> dict[str, object]:
    return {
        "id": order.id,
        "prescription_id": order.prescription_id,
        "number": order.number,
        "status": order.status,
        "valid_until": order.valid_until,
        "total_fen": order.total_fen,
        "self_pay_fen": order.self_pay_fen,
        "insurance_fen": order.insurance_fen,
        "insurance_state": order.insurance_state,
        "pickup": order.pickup,
        "pharmacy_id": order.pharmacy_id,
        "address_id": order.address_id,
        "bill_id": order.bill_id,
        "waybill_no": order.waybill_no,
        "signoff_method": order.signoff_method,
        "signed_off_at": order.signed_off_at,
        "lines": [
            LineOut.model_validate(line, from_attributes=True) for line in ordering.lines_of(db, order.id)
        ],
        "timeline": [
            EventOut(
                kind=e.kind,
                actor_role=e.actor_role,
                occurred_at=e.occurred_at,
                detail=json.loads(e.detail) if e.detail else None,
            )
            for e in lifecycle.timeline(db, order.id)
        ],
    }


def summary(db: Session, order: DrugOrder) -> OrderOut:
    return OrderOut.model_validate(_base(db, order))


def patient_out(db: Session, order: DrugOrder) -> PatientOrderOut:
    """The owner's view: the pickup code while it is live, the courier's timeline, guidance after sign-off."""
    out = PatientOrderOut.model_validate(_base(db, order))
    out.pickup_code = order.pickup_code
    out.pickup_locked = order.pickup_attempts >= pickup.MAX_ATTEMPTS
    if order.pickup == DELIVERY and order.waybill_no:
        ref = shipment_ref(order)
        out.shipment = logistics.shipment_for_ref(db, order.institution_id, ref)
        out.shipment_events = logistics.timeline(db, order.institution_id, ref)
    if order.status == SIGNED_OFF:
        out.guidance = aftercare.guidance(db, order)
    return out


def pharmacy_out(db: Session, order: DrugOrder) -> PharmacyOrderOut:
    out = PharmacyOrderOut.model_validate(
        {
            **_base(db, order),
            "patient_name": mask_name(patient_name(db, order)),
            "dispensed_by": order.dispensed_by,
            "rechecked_by": order.rechecked_by,
            "pickup_attempts": order.pickup_attempts,
        }
    )
    if order.pickup == DELIVERY and order.waybill_no:
        out.shipment = logistics.shipment_for_ref(db, order.institution_id, shipment_ref(order))
    return out
