"""Prescriptions as the API shows them (names looked up once per list)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity import idnumbers
from ihis.identity.models import UserAccount, Visitor
from ihis.organization.models import Department
from ihis.platform.clock import local_today
from ihis.prescribing import content, events
from ihis.prescribing.models import Prescription, PrescriptionLine
from ihis.prescribing.schemas import DiagnosisOut, EventOut, FindingOut, LineOut, PrescriptionOut


def _names(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        row[0]: row[1]
        for row in db.execute(select(UserAccount.id, UserAccount.display_name).where(UserAccount.id.in_(ids)))
    }


def _visitors(db: Session, ids: set[int]) -> dict[int, Visitor]:
    if len(ids) == 1:  # usually already in the session (the check read it): no query then
        visitor = db.get(Visitor, next(iter(ids)))
        return {visitor.id: visitor} if visitor is not None else {}
    return {v.id: v for v in db.scalars(select(Visitor).where(Visitor.id.in_(ids)))}


def outs(
    db: Session,
    rows: list[Prescription],
    *,
    with_timeline: bool = False,
    lines: Mapping[int, list[PrescriptionLine]] | None = None,
) -> list[PrescriptionOut]:
    """The prescriptions with lines, findings and (optionally) the timeline (``lines``: those just
    written, by prescription, so they are not read again)."""
    if not rows:
        return []
    # The timelines first, so that one query names their actors, the doctors and reviewers.
    steps = {rx.id: events.timeline(db, rx.id) for rx in rows} if with_timeline else {}
    people = _names(
        db,
        {r.doctor_id for r in rows}
        | {r.reviewer_id for r in rows if r.reviewer_id}
        | {e.actor_id for s in steps.values() for e in s if e.actor_id},
    )
    departments = {
        row[0]: row[1]
        for row in db.execute(
            select(Department.id, Department.name).where(Department.id.in_({r.department_id for r in rows}))
        )
    }
    visitors = _visitors(db, {r.visitor_id for r in rows})
    today = local_today()
    out = []
    for rx in rows:
        visitor = visitors[rx.visitor_id]
        age = idnumbers.age_facts(visitor.birth_date, today=today)
        timeline: list[EventOut] = []
        if with_timeline:
            timeline = [
                EventOut(
                    kind=e.kind,
                    actor_name=people.get(e.actor_id) if e.actor_id else None,
                    actor_role=e.actor_role,
                    occurred_at=e.occurred_at,
                    detail=json.loads(e.detail) if e.detail else None,
                )
                for e in steps[rx.id]
            ]
        out.append(
            PrescriptionOut(
                id=rx.id,
                number=rx.number,
                consultation_id=rx.consultation_id,
                kind=rx.kind,
                status=rx.status,
                version=rx.version,
                signed_version=rx.signed_version,
                doctor_name=people.get(rx.doctor_id, ""),
                department_name=departments.get(rx.department_id, ""),
                patient_name=visitor.name,
                patient_sex=visitor.sex,
                patient_age=age.age,
                under_six=age.under_six,
                diagnoses=[
                    DiagnosisOut(system=d["system"], code=d["code"], name=d.get("name", ""))
                    for d in json.loads(rx.diagnoses)
                ],
                course=rx.course,
                extension_reason=rx.extension_reason,
                validity_days=rx.validity_days,
                valid_until=rx.valid_until,
                allergy_classes=json.loads(rx.allergy_classes),
                pregnant=rx.pregnant,
                lactating=rx.lactating,
                limited_mobility=rx.limited_mobility,
                guardian_name=rx.guardian_name,
                guardian_relation=rx.guardian_relation,
                accompanying_clinician=rx.accompanying_clinician,
                herbal_doses=rx.herbal_doses,
                herbal_usage=rx.herbal_usage,
                note=rx.note,
                renewed_from_id=rx.renewed_from_id,
                total_fen=rx.total_fen,
                lines=[
                    LineOut.model_validate(x)
                    for x in (lines[rx.id] if lines and rx.id in lines else content.lines_of(db, rx.id))
                ],
                findings=[FindingOut.model_validate(f) for f in content.findings_of(db, rx.id)],
                submitted_at=rx.submitted_at,
                reviewer_name=people.get(rx.reviewer_id) if rx.reviewer_id else None,
                claimed_at=rx.claimed_at,
                reviewed_at=rx.reviewed_at,
                reject_reason=rx.reject_reason,
                signed_document_id=rx.signed_document_id,
                review_document_id=rx.review_document_id,
                timeline=timeline,
            )
        )
    return out
