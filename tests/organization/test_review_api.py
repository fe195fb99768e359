"""The qualification review and the hospital's management of profiles, through HTTP."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import AuthSession, UserAccount
from ihis.integrations.sms.models import SandboxSmsMessage
from ihis.organization.models import ReviewDecision
from ihis.platform.crypto.fields import blind_index
from ihis.platform.outbox import OutboxMessage
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution, make_staff
from tests.factories_org import (
    PDF_BYTES,
    add_document,
    applicant_login,
    audit_actions,
    make_department,
    make_profile,
    problem_fields,
    set_title_price,
)

ADMIN = "/api/v1/admin"
ME = "/api/v1/me/staff-profile"


def _applicant(
    db: Session, inst: Institution, *, status: str = "active", phone: str | None = "13800000001", **kw
):  # type: ignore[no-untyped-def]
    """A doctor with a submitted profile and one document."""
    account = make_staff(
        db,
        inst,
        roles=[kw.pop("role", "doctor")],
        display_name=kw.pop("display_name", None),
        status=status,
        phone=phone,
        phone_bidx=blind_index(phone, "phone") if phone else None,
    )
    dept = kw.pop("department", None) or make_department(db, inst)
    profile = make_profile(db, account, department=dept, status=kw.pop("review_status", "submitted"), **kw)
    add_document(db, profile)
    return account, profile


def _reviewer(client: TestClient, db: Session, settings: Settings, inst: Institution, role: str = "quality"):  # type: ignore[no-untyped-def]
    reviewer = make_staff(db, inst, roles=[role])
    login_as(client, db, reviewer, settings)
    return reviewer


def _sms_to(db: Session, phone: str) -> list[SandboxSmsMessage]:
    return list(db.scalars(select(SandboxSmsMessage).where(SandboxSmsMessage.phone == phone)))


# --- the queue -------------------------------------------------------------------------------


def test_review_queue_lists_submitted_profiles_of_the_institution_oldest_first(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    _, first = _applicant(db, inst, phone="13800000011")
    _, second = _applicant(db, inst, phone="13800000012")
    _applicant(db, inst, review_status="draft", phone="13800000013")
    _applicant(db, inst, review_status="approved", phone="13800000014")
    _applicant(db, make_institution(db), phone="13800000015")
    second.submitted_at = first.submitted_at.replace(year=first.submitted_at.year - 1)  # type: ignore[union-attr]
    _reviewer(client, db, settings, inst)
    page = client.get(f"{ADMIN}/qualification-reviews").json()
    assert page["total"] == 2
    assert [p["id"] for p in page["items"]] == [second.id, first.id]
    assert page["items"][0]["review_status"] == "submitted"


# --- approval --------------------------------------------------------------------------------


def test_approval_records_the_decision_and_texts_the_applicant(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    account, profile = _applicant(db, inst, phone="13800000021")
    reviewer = _reviewer(client, db, settings, inst)
    r = client.post(f"{ADMIN}/profiles/{profile.id}/approve")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["review_status"] == "approved" and body["reviewed_at"] is not None
    assert [(d["decision"], d["reviewer_id"]) for d in body["decisions"]] == [("approved", reviewer.id)]

    queued = db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "sms.send")).all()
    assert len(queued) == 1
    assert json.loads(queued[0].payload)["template"] == "SMS_IHIS_QUALIFICATION_APPROVED"
    (sms,) = _sms_to(db, "13800000021")
    assert account.display_name in sms.text and "审核通过" in sms.text
    assert audit_actions(db, "staff_profile", profile.id) == ["staff_profile.approve"]


def test_approving_twice_or_a_draft_is_a_conflict(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    _, submitted = _applicant(db, inst, phone="13800000031")
    _, draft = _applicant(db, inst, review_status="draft", phone="13800000032")
    _reviewer(client, db, settings, inst)
    assert client.post(f"{ADMIN}/profiles/{submitted.id}/approve").status_code == 200
    r = client.post(f"{ADMIN}/profiles/{submitted.id}/approve")
    assert r.status_code == 409 and r.json()["reason"] == "review_state"
    assert client.post(f"{ADMIN}/profiles/{submitted.id}/reject", json={"reason": "x"}).status_code == 409
    assert client.post(f"{ADMIN}/profiles/{draft.id}/approve").status_code == 409
    assert db.scalar(select(ReviewDecision.id).where(ReviewDecision.profile_id == draft.id)) is None
    assert len(db.scalars(select(ReviewDecision).where(ReviewDecision.profile_id == submitted.id)).all()) == 1


def test_doctor_below_the_minimum_practice_years_cannot_be_approved(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    # NX requires 5 years: the hospital configured it; this doctor practised 4.
    client.app.state.settings = settings.model_copy(update={"doctor_min_practice_years": 5})  # type: ignore[attr-defined]
    _, profile = _applicant(db, inst, years=4, phone="13800000041")
    _reviewer(client, db, settings, inst)
    r = client.post(f"{ADMIN}/profiles/{profile.id}/approve")
    assert r.status_code == 422 and problem_fields(r) == ["practice_years"]
    assert r.json()["errors"][0]["code"] == "practice_years_too_few"
    assert client.get(f"{ADMIN}/profiles/{profile.id}").json()["review_status"] == "submitted"
    assert _sms_to(db, "13800000041") == []


def test_pharmacist_needs_three_years_to_be_approved(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    _, junior = _applicant(
        db, inst, role="pharmacist", profession="pharmacist", title="药师", years=2, phone="13800000051"
    )
    _, senior = _applicant(
        db, inst, role="pharmacist", profession="pharmacist", title="主管药师", years=3, phone="13800000052"
    )
    _reviewer(client, db, settings, inst)
    r = client.post(f"{ADMIN}/profiles/{junior.id}/approve")
    assert r.status_code == 422 and problem_fields(r) == ["practice_years"]
    assert client.post(f"{ADMIN}/profiles/{senior.id}/approve").status_code == 200


def test_profile_whose_title_does_not_fit_the_profession_cannot_be_approved(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    _, profile = _applicant(db, inst, profession="pharmacist", title="主治医师", phone="13800000061")
    _reviewer(client, db, settings, inst)
    r = client.post(f"{ADMIN}/profiles/{profile.id}/approve")
    assert r.status_code == 422 and problem_fields(r) == ["title"]


def test_approval_activates_a_self_registered_account_and_ends_its_application_session(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    account, profile = _applicant(db, inst, status="pending_review", phone="13800000071")
    token = applicant_login(anon, db, account, settings)
    assert anon.get(ME).status_code == 200
    _reviewer(client, db, settings, inst)
    r = client.post(f"{ADMIN}/profiles/{profile.id}/approve")
    assert r.status_code == 200 and r.json()["account_status"] == "active"
    db.expire_all()
    assert db.get(UserAccount, account.id).status == "active"  # type: ignore[union-attr]
    session = db.scalar(select(AuthSession).where(AuthSession.user_id == account.id))
    assert session is not None and session.revoked_at is not None
    assert anon.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "staff.activate" in audit_actions(db, "user_account", account.id)


def test_nobody_reviews_their_own_profile(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    admin = make_staff(db, inst, roles=["super_admin"])
    profile = make_profile(db, admin, department=make_department(db, inst), status="submitted")
    add_document(db, profile)
    login_as(client, db, admin, settings)
    assert client.post(f"{ADMIN}/profiles/{profile.id}/approve").status_code == 403
    assert client.post(f"{ADMIN}/profiles/{profile.id}/reject", json={"reason": "x"}).status_code == 403


# --- rejection -------------------------------------------------------------------------------


def test_rejection_needs_a_reason(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    _, profile = _applicant(db, inst, phone="13800000081")
    _reviewer(client, db, settings, inst)
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        r = client.post(f"{ADMIN}/profiles/{profile.id}/reject", json=body)
        assert r.status_code == 422 and problem_fields(r) == ["body.reason"], body
    assert client.get(f"{ADMIN}/profiles/{profile.id}").json()["review_status"] == "submitted"


def test_rejected_applicant_is_told_why_fixes_the_profile_and_submits_again(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    account, profile = _applicant(db, inst, status="pending_review", phone="13800000091")
    _reviewer(client, db, settings, inst)
    r = client.post(f"{ADMIN}/profiles/{profile.id}/reject", json={"reason": "执业证书照片不清晰"})
    assert r.status_code == 200
    assert r.json()["review_status"] == "rejected" and r.json()["review_reason"] == "执业证书照片不清晰"
    assert r.json()["account_status"] == "pending_review"
    (sms,) = _sms_to(db, "13800000091")
    assert sms.template_code == "SMS_IHIS_QUALIFICATION_REJECTED" and "执业证书照片不清晰" in sms.text

    applicant_login(anon, db, account, settings)
    assert anon.get(ME).json()["review_reason"] == "执业证书照片不清晰"
    upload = anon.post(f"{ME}/documents", data={"kind": "licence"}, files={"file": ("l.pdf", PDF_BYTES)})
    assert upload.status_code == 201
    r = anon.post(f"{ME}/submit")
    assert (
        r.status_code == 200
        and r.json()["review_status"] == "submitted"
        and r.json()["review_reason"] is None
    )
    history = client.get(f"{ADMIN}/profiles/{profile.id}").json()["decisions"]
    assert [(d["decision"], d["reason"]) for d in history] == [("rejected", "执业证书照片不清晰")]


def test_rejection_may_close_a_self_registered_application(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    account, profile = _applicant(db, inst, status="pending_review", phone="13800000101")
    applicant_login(anon, db, account, settings)
    _reviewer(client, db, settings, inst)
    r = client.post(
        f"{ADMIN}/profiles/{profile.id}/reject", json={"reason": "证书伪造", "close_application": True}
    )
    assert r.status_code == 200 and r.json()["account_status"] == "rejected"
    assert anon.get(ME).status_code == 401
    (sms,) = _sms_to(db, "13800000101")
    assert "证书伪造" in sms.text and "重新提交" not in sms.text


def test_applicant_without_a_phone_is_reviewed_without_a_text(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    _, profile = _applicant(db, inst, phone=None)
    _reviewer(client, db, settings, inst)
    assert client.post(f"{ADMIN}/profiles/{profile.id}/approve").status_code == 200
    assert db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "sms.send")).all() == []


# --- documents for reviewers -----------------------------------------------------------------


def test_reviewer_downloads_a_submitted_scan_as_an_attachment(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst)
    doctor = make_staff(db, inst, roles=["doctor"])
    make_profile(db, doctor, department=dept)
    login_as(anon, db, doctor, settings)
    doc = anon.post(f"{ME}/documents", data={"kind": "licence"}, files={"file": ("l.pdf", PDF_BYTES)}).json()
    profile_id = anon.get(ME).json()["id"]

    _reviewer(client, db, settings, inst)
    r = client.get(f"{ADMIN}/profiles/{profile_id}/documents/{doc['id']}")
    assert r.status_code == 200 and r.content == PDF_BYTES
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["cache-control"] == "no-store"
    assert "qualification_document.read" in audit_actions(db, "qualification_document", doc["id"])
    other = make_profile(db, make_staff(db, inst), department=dept)
    db.commit()
    assert client.get(f"{ADMIN}/profiles/{other.id}/documents/{doc['id']}").status_code == 404


# --- the hospital manages profiles -----------------------------------------------------------


def test_operations_sets_title_modes_prices_and_prescription_right(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    _, profile = _applicant(db, inst, review_status="approved", phone="13800000111")
    set_title_price(db, inst, "主任医师", "text", 3000)
    set_title_price(db, inst, "主任医师", "video", 9000)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    body = {
        "title": "主任医师",
        "department_id": profile.department_id,
        "prescription_right": True,
        "service_on": True,
        "modes": {"text": {"enabled": True}, "video": {"enabled": True, "price_fen": 12000}},
    }
    r = client.put(f"{ADMIN}/profiles/{profile.id}", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["title"] == "主任医师" and got["prescription_right"] is True and got["service_on"] is True
    modes = {m["mode"]: m for m in got["modes"]}
    assert modes["text"] == {
        "mode": "text",
        "enabled": True,
        "price_override_fen": None,
        "title_price_fen": 3000,
        "price_fen": 3000,
    }
    assert modes["video"]["price_fen"] == 12000 and modes["video"]["title_price_fen"] == 9000
    assert modes["phone"] == {
        "mode": "phone",
        "enabled": False,
        "price_override_fen": None,
        "title_price_fen": None,
        "price_fen": None,
    }

    # Turning a mode off keeps the other modes as they were.
    r = client.put(f"{ADMIN}/profiles/{profile.id}", json={**body, "modes": {"video": {"enabled": False}}})
    modes = {m["mode"]: m for m in r.json()["modes"]}
    assert modes["video"]["enabled"] is False and modes["video"]["price_override_fen"] is None
    assert modes["text"]["enabled"] is True
    assert audit_actions(db, "staff_profile", profile.id) == ["staff_profile.update", "staff_profile.update"]


def test_profile_edit_refuses_bad_fields(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    _, nurse = _applicant(db, inst, role="nurse", profession="nurse", title="护师", phone="13800000121")
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    base = {"title": "护师", "department_id": nurse.department_id}
    r = client.put(f"{ADMIN}/profiles/{nurse.id}", json={**base, "prescription_right": True})
    assert r.status_code == 422 and problem_fields(r) == ["body.prescription_right"]
    r = client.put(f"{ADMIN}/profiles/{nurse.id}", json={**base, "title": "主任医师"})
    assert r.status_code == 422 and problem_fields(r) == ["body.title"]
    r = client.put(
        f"{ADMIN}/profiles/{nurse.id}", json={**base, "modes": {"text": {"enabled": True, "price_fen": -5}}}
    )
    assert r.status_code == 422 and problem_fields(r) == ["body.modes.text.price_fen"]
    r = client.put(f"{ADMIN}/profiles/{nurse.id}", json={**base, "modes": {"fax": {"enabled": True}}})
    assert r.status_code == 422 and problem_fields(r)[0].startswith("body.modes")


def test_staff_readers_search_profiles_but_do_not_edit_them(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    _, profile = _applicant(db, inst, phone="13800000131", display_name="王呼吸")
    _applicant(db, inst, phone="13800000132", review_status="draft")
    login_as(client, db, make_staff(db, inst, roles=["it_admin"]), settings)
    page = client.get(f"{ADMIN}/profiles", params={"keyword": "王呼吸"}).json()
    assert page["total"] == 1 and page["items"][0]["id"] == profile.id
    assert client.get(f"{ADMIN}/profiles", params={"status": "draft"}).json()["total"] == 1
    assert client.get(f"{ADMIN}/profiles", params={"profession": "doctor", "limit": 1}).json()["total"] == 2
    assert client.get(f"{ADMIN}/profiles", params={"status": "pending"}).status_code == 422
    assert client.get(f"{ADMIN}/profiles/{profile.id}").json()["documents"][0]["kind"] == "licence"
    assert client.put(f"{ADMIN}/profiles/{profile.id}", json={}).status_code == 403
    assert client.post(f"{ADMIN}/profiles/{profile.id}/approve").status_code == 403


def test_profiles_of_another_institution_are_not_found(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    _, foreign = _applicant(db, make_institution(db), phone="13800000141")
    login_as(client, db, make_staff(db, inst, roles=["super_admin"]), settings)
    assert client.get(f"{ADMIN}/profiles").json()["total"] == 0
    assert client.get(f"{ADMIN}/qualification-reviews").json()["total"] == 0
    assert client.get(f"{ADMIN}/profiles/{foreign.id}").status_code == 404
    assert client.put(f"{ADMIN}/profiles/{foreign.id}", json={}).status_code == 404
    assert client.post(f"{ADMIN}/profiles/{foreign.id}/approve").status_code == 404
    assert client.post(f"{ADMIN}/profiles/{foreign.id}/reject", json={"reason": "x"}).status_code == 404
    assert client.get(f"{ADMIN}/profiles/{foreign.id}/documents/1").status_code == 404


# --- access ----------------------------------------------------------------------------------

REVIEW_ENDPOINTS = [
    ("GET", "/qualification-reviews", None),
    ("POST", "/profiles/1/approve", None),
    ("POST", "/profiles/1/reject", {"reason": "x"}),
    ("GET", "/profiles/1/documents/1", None),
]
MANAGE_ENDPOINTS = [("GET", "/profiles", None), ("GET", "/profiles/1", None), ("PUT", "/profiles/1", {})]


def test_review_and_profile_endpoints_need_a_session(anon: TestClient) -> None:
    for method, path, body in REVIEW_ENDPOINTS + MANAGE_ENDPOINTS:
        assert anon.request(method, ADMIN + path, json=body).status_code == 401, path


def test_doctors_neither_review_nor_manage_profiles(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    for method, path, body in REVIEW_ENDPOINTS + MANAGE_ENDPOINTS:
        assert client.request(method, ADMIN + path, json=body).status_code == 403, path


def test_applicant_session_cannot_review(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    applicant = make_staff(db, inst, roles=["super_admin"], status="pending_review")
    applicant_login(client, db, applicant, settings)
    for method, path, body in REVIEW_ENDPOINTS + MANAGE_ENDPOINTS:
        assert client.request(method, ADMIN + path, json=body).status_code == 401, path
