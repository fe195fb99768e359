"""Pharmacist review: duty, first-come queue, one claim wins, the integrity check before review,
approve with the 四查十对 checklist and the PIN (signed + time-stamped), reject -> revise as a new
signed version; who may do what."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.notifications.models import Message
from ihis.platform.audit import AuditEvent
from ihis.platform.clock import HOSPITAL_TZ
from ihis.prescribing.jobs import warn_unstaffed
from ihis.prescribing.models import PrescriptionLine
from ihis.settings import Settings
from ihis.signing.models import SignedDocument
from tests.factories import login_as, make_staff
from tests.factories_org import problem_fields
from tests.factories_prescribing import (
    CHECKLIST,
    PHARMACIST_PIN,
    WS,
    RxWorld,
    line,
    new_draft,
    pharmacist,
    rx_world,
    save,
    submit,
)

PH = "/api/v1/pharmacy"


def _submitted(client: TestClient, anon: TestClient, db: Session, settings: Settings) -> tuple[RxWorld, dict]:  # type: ignore[type-arg]
    w = rx_world(client, anon, db, settings)
    rx = save(
        client,
        new_draft(client, w),
        lines=[line(w, "D001"), line(w, "D008", dose="500", frequency="bid")],
        diagnoses=[{"system": "icd10", "code": "I10.x00x002"}, {"system": "icd10", "code": "E11.900"}],
    )
    answer = submit(client, rx)
    assert answer.status_code == 200, answer.text
    return w, answer.json()


def test_the_pharmacist_claims_checks_and_approves_with_the_pin(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    ph = pharmacist(client, db, settings, w)
    board = client.get(f"{PH}/duty").json()
    assert [d["pharmacist_name"] for d in board["on_duty"]] == ["孙药师"] and board["waiting"] == 1
    assert [r["id"] for r in client.get(f"{PH}/reviews").json()] == [rx["id"]]

    screen = client.post(f"{PH}/reviews/{rx['id']}/claim")
    assert screen.status_code == 200, screen.text
    assert screen.json()["integrity"] == {"ok": True, "failures": [], "document_id": rx["signed_document_id"]}
    assert screen.json()["prescription"]["reviewer_name"] == "孙药师"

    partial = client.post(
        f"{PH}/reviews/{rx['id']}/approve",
        json={"pin": PHARMACIST_PIN, "checklist": CHECKLIST | {"diagnosis": False}},
    )
    assert partial.status_code == 422 and problem_fields(partial) == ["body.checklist.diagnosis"]
    wrong = client.post(f"{PH}/reviews/{rx['id']}/approve", json={"pin": "000000", "checklist": CHECKLIST})
    assert wrong.status_code == 422 and problem_fields(wrong) == ["body.pin"]
    done = client.post(
        f"{PH}/reviews/{rx['id']}/approve", json={"pin": PHARMACIST_PIN, "checklist": CHECKLIST}
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "approved" and body["reviewer_name"] == "孙药师"
    db.expire_all()
    review_doc = db.get(SignedDocument, body["review_document_id"])
    assert review_doc is not None and review_doc.kind == "rx_review" and review_doc.signer_id == ph.id
    assert f'"doctor_document_id":{rx["signed_document_id"]}' in review_doc.content
    told = db.scalars(select(Message.event).where(Message.recipient_account_id == w.who.account.id)).all()
    assert "prescription_approved" in told
    # The patient sees it now, with its timeline.
    login_as(client, db, w.who.account, settings)
    mine = client.get(f"/api/v1/me/prescriptions/{rx['id']}").json()
    assert mine["status"] == "approved" and [e["kind"] for e in mine["timeline"]][-2:] == [
        "claimed",
        "approved",
    ]


def test_an_altered_prescription_is_detected_and_review_refused(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    # Someone changes a signed row behind the application's back.
    db.execute(
        update(PrescriptionLine)
        .where(PrescriptionLine.prescription_id == rx["id"], PrescriptionLine.position == 0)
        .values(quantity=9)
    )
    db.commit()
    pharmacist(client, db, settings, w)
    screen = client.post(f"{PH}/reviews/{rx['id']}/claim").json()
    assert screen["integrity"]["ok"] is False and "content_changed" in screen["integrity"]["failures"]
    refused = client.post(
        f"{PH}/reviews/{rx['id']}/approve", json={"pin": PHARMACIST_PIN, "checklist": CHECKLIST}
    )
    assert refused.status_code == 409 and "content_changed" in refused.json()["failures"]
    db.expire_all()
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "prescription.integrity_failed"))
    assert client.get(f"{PH}/reviews/{rx['id']}").json()["prescription"]["status"] == "under_review"


def test_of_two_pharmacists_claiming_one_prescription_exactly_one_wins(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    pharmacist(client, db, settings, w, name="甲药师")
    assert client.post(f"{PH}/reviews/{rx['id']}/claim").status_code == 200
    pharmacist(client, db, settings, w, name="乙药师")
    lost = client.post(f"{PH}/reviews/{rx['id']}/claim")
    assert lost.status_code == 409
    # Claimed: the doctor can no longer recall it.
    login_as(client, db, w.doctor, settings)
    assert (
        client.post(f"{WS}/prescriptions/{rx['id']}/recall", json={"reason": "想修改剂量"}).status_code == 409
    )


def test_rejected_then_revised_is_a_new_signed_version(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    pharmacist(client, db, settings, w)
    client.post(f"{PH}/reviews/{rx['id']}/claim")
    assert problem_fields(client.post(f"{PH}/reviews/{rx['id']}/reject", json={"reason": ""})) == [
        "body.reason"
    ]
    rejected = client.post(
        f"{PH}/reviews/{rx['id']}/reject", json={"reason": "二甲双胍剂量与肾功能不符，请减量"}
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    db.expire_all()
    told = db.scalars(select(Message.event).where(Message.recipient_account_id == w.doctor.id)).all()
    assert "prescription_rejected" in told

    login_as(client, db, w.doctor, settings)
    draft = client.post(f"{WS}/prescriptions/{rx['id']}/revise").json()
    assert draft["status"] == "draft" and draft["reject_reason"] == "二甲双胍剂量与肾功能不符，请减量"
    draft = save(
        client,
        draft,
        lines=[line(w, "D001"), line(w, "D008", dose="500", frequency="qd")],
        diagnoses=[{"system": "icd10", "code": "I10.x00x002"}, {"system": "icd10", "code": "E11.900"}],
    )
    again = submit(client, draft)
    assert again.status_code == 200 and again.json()["signed_version"] == 2
    db.expire_all()
    versions = db.scalars(
        select(SignedDocument.version).where(
            SignedDocument.kind == "rx", SignedDocument.ref_id == str(rx["id"])
        )
    ).all()
    assert sorted(versions) == [1, 2]  # the first signed version is kept


def test_duty_is_needed_to_claim_and_operations_are_warned_when_nobody_is_on_duty(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    pharmacist(client, db, settings, w, check_in=False)
    refused = client.post(f"{PH}/reviews/{rx['id']}/claim")
    assert refused.status_code == 409 and refused.json()["reason"] == "not_on_duty"
    ops = make_staff(db, w.world.inst, roles=("operations",))
    db.commit()
    today = dt.datetime.now(HOSPITAL_TZ).date()
    ten = dt.datetime.combine(today, dt.time(10, 0), tzinfo=HOSPITAL_TZ)
    assert warn_unstaffed(ten) >= 1
    assert warn_unstaffed(ten + dt.timedelta(minutes=5)) == 0  # once per gap
    db.expire_all()
    assert (
        db.scalar(select(Message.event).where(Message.recipient_account_id == ops.id)) == "review_unstaffed"
    )
    assert warn_unstaffed(dt.datetime.combine(today, dt.time(20, 0), tzinfo=HOSPITAL_TZ)) == 0  # after hours
    assert client.post(f"{PH}/duty/check-in").status_code == 200
    assert client.post(f"{PH}/duty/check-in").status_code == 200  # idempotent
    assert client.post(f"{PH}/reviews/{rx['id']}/claim").status_code == 200
    out = client.post(f"{PH}/duty/check-out")
    assert out.status_code == 200 and out.json()["ended_at"]
    # Checking out puts the claimed prescription back in the queue.
    login_as(client, db, ops, settings)
    assert client.get(f"{PH}/duty").json()["waiting"] == 1


def test_who_may_review(client: TestClient, anon: TestClient, db: Session, settings: Settings) -> None:
    w, rx = _submitted(client, anon, db, settings)
    assert anon.get(f"{PH}/reviews").status_code == 401
    assert anon.post(f"{PH}/reviews/{rx['id']}/claim").status_code == 401
    login_as(client, db, w.doctor, settings)  # a doctor cannot approve
    assert client.get(f"{PH}/reviews").status_code == 403
    assert (
        client.post(
            f"{PH}/reviews/{rx['id']}/approve", json={"pin": PHARMACIST_PIN, "checklist": CHECKLIST}
        ).status_code
        == 403
    )
    login_as(client, db, make_staff(db, w.world.inst, roles=("super_admin",)), settings)
    assert client.post(f"{PH}/reviews/{rx['id']}/claim").status_code == 403  # never administrators
    login_as(client, db, w.who.account, settings)
    assert client.get(f"{PH}/reviews/{rx['id']}").status_code == 403
    # Another institution's pharmacist sees nothing.
    other = rx_world(client, anon, db, settings)
    pharmacist(client, db, settings, other)
    assert client.get(f"{PH}/reviews/{rx['id']}").status_code == 404
    assert client.post(f"{PH}/reviews/{rx['id']}/claim").status_code == 404
