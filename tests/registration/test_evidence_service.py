"""Evidence as the booking will use it: only the caller's, for that visitor and department, once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.identity.models import UserAccount
from ihis.platform.errors import Conflict, NotFound
from ihis.registration import evidence
from ihis.registration.models import EligibilityEvidence, EvidenceUpload
from ihis.settings import Settings
from tests.factories import login_as, make_institution
from tests.factories_his import his_patient, visit
from tests.factories_org import PDF_BYTES, make_department
from tests.factories_patient import make_consented_patient, make_visitor


def _actor(account: UserAccount) -> Actor:
    return Actor(account.id, account.institution_id, "patient", "患者", frozenset({"patient"}), session_id=0)


def test_his_evidence_is_used_by_one_registration_only(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    account = make_consented_patient(db, inst)
    login_as(client, db, account, settings)
    visitor = make_visitor(db, account)
    dept = make_department(db, inst, name="内分泌科", subject_code="03.07", subject_name="内分泌专业")
    his_patient(db, visitor.id_number, [visit("v1", 3, "内分泌科", "E11.9")])
    evidence_id = client.post(
        "/api/v1/me/eligibility-checks", json={"visitor_id": visitor.id, "department_id": dept.id}
    ).json()["evidence_id"]
    me, stranger = _actor(account), _actor(make_consented_patient(db, inst))
    assert evidence.evidence_for_booking(db, me, evidence_id, visitor.id, dept.id).id == evidence_id
    for who, visitor_id, dept_id in (
        (stranger, visitor.id, dept.id),
        (me, visitor.id + 1, dept.id),
        (me, visitor.id, dept.id + 1),
    ):
        with pytest.raises(NotFound):
            evidence.evidence_for_booking(db, who, evidence_id, visitor_id, dept_id)
    evidence.link_to_registration(db, evidence_id, 4242)
    db.expire_all()
    assert db.get(EligibilityEvidence, evidence_id).registration_id == 4242  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        evidence.link_to_registration(db, evidence_id, 4343)
    with pytest.raises(NotFound):
        evidence.evidence_for_booking(db, me, evidence_id, visitor.id, dept.id)


def test_upload_evidence_links_its_upload_and_a_rejected_upload_cannot_admit(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    account = make_consented_patient(db, inst)
    login_as(client, db, account, settings)
    visitor = make_visitor(db, account)
    dept = make_department(db, inst)
    upload_id = client.post(
        "/api/v1/me/evidence",
        data={"visitor_id": str(visitor.id), "department_id": str(dept.id)},
        files={"file": ("a.pdf", PDF_BYTES)},
    ).json()["id"]
    row = db.query(EligibilityEvidence).filter_by(upload_id=upload_id).one()
    me = _actor(account)
    assert evidence.evidence_for_booking(db, me, row.id, visitor.id, dept.id).upload_id == upload_id
    db.execute(update(EvidenceUpload).where(EvidenceUpload.id == upload_id).values(status="rejected"))
    with pytest.raises(Conflict):
        evidence.evidence_for_booking(db, me, row.id, visitor.id, dept.id)
    db.execute(
        update(EvidenceUpload)
        .where(EvidenceUpload.id == upload_id)
        .values(status="pending_doctor_confirmation")
    )
    evidence.link_to_registration(db, row.id, 77)
    db.expire_all()
    assert db.get(EvidenceUpload, upload_id).registration_id == 77  # type: ignore[union-attr]
