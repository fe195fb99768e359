"""What a prescription signature covers, rebuilt from the rows alone.

The doctor signs ``payload(db, rx, issued_on, valid_until, version)``; before review the pharmacist's
screen rebuilds the same payload from the stored rows and compares it byte for byte with the signed
content, then verifies signature, certificate and time stamp (``integrity``). Any change of a signed
row — a dose, a quantity, a finding's override — makes the two differ and review is refused
(DOMAIN §5: "the system first verifies the prescription has not been altered since the doctor signed").
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount, Visitor
from ihis.organization.models import Department
from ihis.prescribing.models import Prescription, PrescriptionFinding, PrescriptionLine
from ihis.signing import canonical
from ihis.signing import service as signing
from ihis.signing.models import SignedDocument
from ihis.tenancy.models import Institution

KIND = "rx"  # the signing domain's document kind of the doctor's signature
REVIEW_KIND = "rx_review"  # the pharmacist's


def lines_of(db: Session, rx_id: int) -> list[PrescriptionLine]:
    return list(
        db.scalars(
            select(PrescriptionLine)
            .where(PrescriptionLine.prescription_id == rx_id)
            .order_by(PrescriptionLine.position)
        )
    )


def findings_of(db: Session, rx_id: int) -> list[PrescriptionFinding]:
    return list(
        db.scalars(
            select(PrescriptionFinding)
            .where(PrescriptionFinding.prescription_id == rx_id)
            .order_by(PrescriptionFinding.line.is_(None), PrescriptionFinding.line, PrescriptionFinding.key)
        )
    )


def payload(
    db: Session, rx: Prescription, *, issued_on: dt.date, valid_until: dt.date, version: int
) -> dict[str, Any]:
    """The canonical content of version ``version`` of the prescription (no ID numbers)."""
    visitor = db.get(Visitor, rx.visitor_id)
    doctor = db.get(UserAccount, rx.doctor_id)
    department = db.get(Department, rx.department_id)
    institution = db.get(Institution, rx.institution_id)
    assert visitor and doctor and department and institution
    return {
        "type": "prescription",
        "institution": {"code": institution.code, "name": institution.name},
        "number": rx.number,
        "prescription_id": rx.id,
        "version": version,
        "kind": rx.kind,
        "department": department.name,
        "doctor": {"id": doctor.id, "name": doctor.display_name, "staff_no": doctor.staff_no},
        "patient": {
            "visitor_id": visitor.id,
            "name": visitor.name,
            "sex": visitor.sex,
            "birth_date": visitor.birth_date.isoformat(),
        },
        "guardian": {"name": rx.guardian_name, "relation": rx.guardian_relation}
        if rx.guardian_name
        else None,
        "accompanying_clinician": rx.accompanying_clinician,
        "consultation_id": rx.consultation_id,
        "renewed_from_id": rx.renewed_from_id,
        "issued_on": issued_on.isoformat(),
        "valid_until": valid_until.isoformat(),
        "validity_days": rx.validity_days,
        "diagnoses": json.loads(rx.diagnoses),
        "course": rx.course,
        "extension_reason": rx.extension_reason,
        "allergy_classes": json.loads(rx.allergy_classes),
        "pregnant": rx.pregnant,
        "lactating": rx.lactating,
        "limited_mobility": rx.limited_mobility,
        "herbal": {"doses": rx.herbal_doses, "usage": rx.herbal_usage} if rx.kind == "herbal" else None,
        "note": rx.note,
        "lines": [
            {
                "position": line.position,
                "drug_id": line.drug_id,
                "drug_code": line.drug_code,
                "drug_name": line.drug_name,
                "strength": line.strength,
                "form": line.form,
                "package": line.package,
                "dose": line.dose,
                "dose_unit": line.dose_unit,
                "frequency": line.frequency,
                "route": line.route,
                "days": line.days,
                "quantity": line.quantity,
                "unit_price_fen": line.unit_price_fen,
                "amount_fen": line.amount_fen,
                "note": line.note,
            }
            for line in lines_of(db, rx.id)
        ],
        "total_fen": rx.total_fen,
        "kb_version": rx.kb_version,
        "findings": [
            {
                "key": f.key,
                "code": f.code,
                "severity": f.severity,
                "message": f.message_zh,
                "override_reason": f.override_reason,
            }
            for f in findings_of(db, rx.id)
        ],
    }


@dataclass(frozen=True)
class Integrity:
    """Whether the stored prescription is what the doctor signed; ``failures`` name what is not."""

    ok: bool
    failures: tuple[str, ...]
    document_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failures": list(self.failures), "document_id": self.document_id}


def integrity(db: Session, rx: Prescription) -> Integrity:
    """Rebuild the signed payload from the rows; compare; verify signature, certificate, time stamp."""
    doc = db.get(SignedDocument, rx.signed_document_id) if rx.signed_document_id else None
    if doc is None or rx.submitted_at is None or rx.valid_until is None:
        return Integrity(False, ("not_signed",), None)
    failures: list[str] = []
    if doc.kind != KIND or doc.ref_id != str(rx.id) or doc.institution_id != rx.institution_id:
        failures.append("document_mismatch")
    issued_on = rx.valid_until - dt.timedelta(days=rx.validity_days - 1)
    rebuilt = canonical.canonical_bytes(
        payload(db, rx, issued_on=issued_on, valid_until=rx.valid_until, version=rx.signed_version)
    )
    if rebuilt.decode("utf-8") != doc.content:
        failures.append("content_changed")
    report = signing.verify(db, doc)
    failures.extend(report.failures)
    return Integrity(not failures, tuple(dict.fromkeys(failures)), doc.id)
