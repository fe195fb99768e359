"""The prescription PDF (处方笺): only for approved prescriptions, with the CJK font embedded and one
verification QR per signature (the doctor's and the reviewing pharmacist's), for the patient, the
prescribing doctor and a pharmacist of the institution; anyone else gets 401/403/404."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.platform.audit import AuditEvent
from ihis.prescribing import rx_pdf
from ihis.prescribing.models import Prescription
from ihis.settings import Settings
from ihis.signing.models import SignedDocument
from tests.factories import login_as, make_institution, make_staff
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
from tests.factories_registration import make_booker


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    """The prescribing test app (tests/prescribing/conftest.py) plus the PDF router."""
    if "/api/v1/me/prescriptions/{rx_id}/pdf" not in {getattr(r, "path", "") for r in app.routes}:
        from ihis.prescribing.pdf_api import router

        app.include_router(router, prefix="/api/v1")
    return app


def _submitted(client: TestClient, anon: TestClient, db: Session, settings: Settings) -> tuple[RxWorld, Any]:
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


def _approve(client: TestClient, db: Session, settings: Settings, w: RxWorld, rx: Any) -> Any:
    pharmacist(client, db, settings, w)
    assert client.post(f"/api/v1/pharmacy/reviews/{rx['id']}/claim").status_code == 200
    done = client.post(
        f"/api/v1/pharmacy/reviews/{rx['id']}/approve", json={"pin": PHARMACIST_PIN, "checklist": CHECKLIST}
    )
    assert done.status_code == 200, done.text
    return done.json()


def _assert_pdf(answer: Any) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.content.startswith(b"%PDF") and b"FontFile2" in answer.content  # the CJK font is embedded


def test_the_patient_downloads_the_approved_prescription_with_both_verifiable_signatures(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    approved = _approve(client, db, settings, w, rx)
    login_as(client, db, w.who.account, settings)
    pdf = client.get(f"/api/v1/me/prescriptions/{rx['id']}/pdf")
    _assert_pdf(pdf)
    assert pdf.content.count(b"/Subtype /Image") == 2  # one verification QR code per signature
    audited = db.scalars(
        select(AuditEvent.action).where(
            AuditEvent.resource_type == "prescription", AuditEvent.resource_id == str(rx["id"])
        )
    ).all()
    assert "prescription.pdf" in audited
    # One verification code per signature; both resolve valid on the public page.
    codes = []
    for document_id in (approved["signed_document_id"], approved["review_document_id"]):
        document = db.get(SignedDocument, document_id)
        assert document is not None
        codes.append(document.verification_code)
        check = anon.get(f"/api/v1/public/verify/{document.verification_code}")
        assert check.status_code == 200 and check.json()["valid"] is True
    assert len(set(codes)) == 2


def test_the_pdf_states_both_signers_and_the_verification_links(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    approved = _approve(client, db, settings, w, rx)
    db.expire_all()
    row = db.get(Prescription, rx["id"])
    assert row is not None
    doctor = rx_pdf.signature_facts(db, row.signed_document_id, settings)
    review = rx_pdf.signature_facts(db, row.review_document_id, settings)
    assert doctor.signer == w.doctor.display_name and review.signer == "孙药师"
    assert doctor.timestamp_time is not None and review.timestamp_time is not None
    assert approved["status"] == "approved"
    for facts, document_id in ((doctor, row.signed_document_id), (review, row.review_document_id)):
        document = db.get(SignedDocument, document_id)
        assert document is not None
        assert facts.verify_url == settings.public_url(f"/app/verify/{document.verification_code}")
        assert (facts.digest_hex, facts.certificate_serial) == (
            document.digest_hex,
            document.certificate_serial,
        )
        assert facts.signer in facts.certificate_subject


def test_the_doctor_and_a_pharmacist_of_the_institution_download_it(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    _approve(client, db, settings, w, rx)
    _assert_pdf(client.get(f"/api/v1/pharmacy/reviews/{rx['id']}/pdf"))  # the approving pharmacist
    login_as(client, db, w.doctor, settings)
    _assert_pdf(client.get(f"{WS}/prescriptions/{rx['id']}/pdf"))


def test_a_prescription_not_yet_approved_has_no_pdf(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    answer = client.get(f"{WS}/prescriptions/{rx['id']}/pdf")
    assert answer.status_code == 409 and answer.json()["reason"] == "not_approved"
    pharmacist(client, db, settings, w)
    assert client.get(f"/api/v1/pharmacy/reviews/{rx['id']}/pdf").status_code == 409
    login_as(client, db, w.who.account, settings)
    assert client.get(f"/api/v1/me/prescriptions/{rx['id']}/pdf").status_code == 409
    # A draft is the doctor's only: the patient does not see it at all.
    login_as(client, db, w.doctor, settings)
    draft = new_draft(client, w)
    login_as(client, db, w.who.account, settings)
    assert client.get(f"/api/v1/me/prescriptions/{draft['id']}/pdf").status_code == 404


def test_strangers_cannot_download_the_pdf(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w, rx = _submitted(client, anon, db, settings)
    _approve(client, db, settings, w, rx)
    rx_id = rx["id"]
    for path in (
        f"/api/v1/me/prescriptions/{rx_id}/pdf",
        f"{WS}/prescriptions/{rx_id}/pdf",
        f"/api/v1/pharmacy/reviews/{rx_id}/pdf",
    ):
        assert anon.get(path).status_code == 401
    # Another patient of the hospital: 404.
    login_as(client, db, make_booker(db, w.world).account, settings)
    assert client.get(f"/api/v1/me/prescriptions/{rx_id}/pdf").status_code == 404
    assert client.get(f"{WS}/prescriptions/{rx_id}/pdf").status_code == 403  # not a doctor
    assert client.get(f"/api/v1/pharmacy/reviews/{rx_id}/pdf").status_code == 403
    # Another doctor of the hospital: not theirs -> 404; a doctor is no reviewer -> 403.
    colleague = make_staff(db, w.world.inst, roles=("doctor",))
    db.commit()
    login_as(client, db, colleague, settings)
    assert client.get(f"{WS}/prescriptions/{rx_id}/pdf").status_code == 404
    assert client.get(f"/api/v1/pharmacy/reviews/{rx_id}/pdf").status_code == 403
    # A pharmacist of another hospital: invisible.
    elsewhere = make_staff(db, make_institution(db), roles=("pharmacist",))
    db.commit()
    login_as(client, db, elsewhere, settings)
    assert client.get(f"/api/v1/pharmacy/reviews/{rx_id}/pdf").status_code == 404
    # A bad id is named.
    bad = client.get("/api/v1/pharmacy/reviews/abc/pdf")
    assert bad.status_code == 422 and "path.rx_id" in bad.text


def test_a_herbal_prescription_prints_its_doses_and_decoction_usage(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    herbs = [
        line(w, code, dose="15", dose_unit="g", route="decoction", quantity=105)
        for code in ("H001", "H002", "H003")
    ]
    rx = save(
        client,
        new_draft(client, w, kind="herbal"),
        lines=herbs,
        herbal_doses=7,
        herbal_usage="水煎服，每日一剂，分两次温服",
    )
    assert [f for f in rx["findings"] if f["severity"] == "block"] == []
    warnings = [{"key": f["key"], "reason": "辨证用药"} for f in rx["findings"] if f["severity"] == "warn"]
    answer = submit(client, rx, overrides=warnings)
    assert answer.status_code == 200, answer.text
    _approve(client, db, settings, w, answer.json())
    login_as(client, db, w.doctor, settings)
    _assert_pdf(client.get(f"{WS}/prescriptions/{rx['id']}/pdf"))
