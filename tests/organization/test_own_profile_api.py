"""A staff member's own profile, documents and submission, through HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.organization.models import QualificationDocument, StaffProfile
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_org import (
    EXE_BYTES,
    JPEG_BYTES,
    PDF_BYTES,
    PNG_BYTES,
    add_document,
    applicant_login,
    audit_actions,
    make_department,
    make_profile,
    problem_fields,
    years_ago,
)

ME = "/api/v1/me/staff-profile"


def _profile_body(dept_id: int | None, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "profession": "doctor",
        "department_id": dept_id,
        "title": "副主任医师",
        "licence_no": "110110000012345",
        "qualification_no": "200111000012345",
        "practice_started_on": years_ago(8).isoformat(),
        "specialties": "哮喘、慢阻肺",
        "introduction": "从事呼吸内科临床工作十余年。",
    }
    body.update(kw)
    return body


def _doctor(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    dept = make_department(db, inst)
    doctor = make_staff(db, inst, roles=["doctor"])
    login_as(client, db, doctor, settings)
    return inst, dept, doctor


def _upload(client: TestClient, data: bytes, *, kind: str = "licence", name: str = "licence.pdf"):  # type: ignore[no-untyped-def]
    return client.post(
        f"{ME}/documents", data={"kind": kind}, files={"file": (name, data, "application/pdf")}
    )


def test_doctor_starts_reads_and_edits_their_profile(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, dept, doctor = _doctor(client, db, settings)
    r = client.get(ME)
    assert r.status_code == 404 and r.json()["reason"] == "profile_not_started"

    r = client.put(ME, json=_profile_body(dept.id))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["review_status"] == "draft" and got["user_id"] == doctor.id
    assert got["department_name"] == dept.name and got["practice_years"] == 8
    assert got["licence_no"] == "110110000012345"  # the owner sees their own numbers in full
    assert [m["mode"] for m in got["modes"]] == ["text", "phone", "video"]

    r = client.put(ME, json=_profile_body(dept.id, title="主任医师", specialties="肺结节"))
    assert r.status_code == 200 and r.json()["title"] == "主任医师" and r.json()["specialties"] == "肺结节"
    assert client.get(ME).json()["id"] == got["id"]
    assert audit_actions(db, "staff_profile", got["id"]) == [
        "staff_profile.create",
        "staff_profile.update_own",
    ]


def test_profile_with_bad_fields_is_refused_naming_each(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, dept, _ = _doctor(client, db, settings)
    foreign_dept = make_department(db, make_institution(db))
    disabled = make_department(db, inst, enabled=False)
    db.commit()
    r = client.put(ME, json=_profile_body(dept.id, title="主任药师"))
    assert r.status_code == 422 and problem_fields(r) == ["body.title"]
    r = client.put(ME, json=_profile_body(dept.id, title="教授"))
    assert r.status_code == 422 and problem_fields(r) == ["body.title"]
    r = client.put(ME, json=_profile_body(foreign_dept.id))
    assert r.status_code == 422 and problem_fields(r) == ["body.department_id"]
    r = client.put(ME, json=_profile_body(disabled.id))
    assert r.status_code == 422 and problem_fields(r) == ["body.department_id"]
    r = client.put(ME, json=_profile_body(dept.id, licence_no="<script>"))
    assert r.status_code == 422 and problem_fields(r) == ["body.licence_no"]
    r = client.put(ME, json=_profile_body(dept.id, practice_started_on="2999-01-01"))
    assert r.status_code == 422 and problem_fields(r) == ["body.practice_started_on"]
    r = client.put(ME, json=_profile_body(dept.id, profession="surgeon"))
    assert r.status_code == 422 and problem_fields(r) == ["body.profession"]
    assert db.scalar(select(StaffProfile)) is None


# --- documents -------------------------------------------------------------------------------


def test_licence_scans_are_stored_under_random_keys_with_sniffed_types(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    for data, expected in (
        (PDF_BYTES, "application/pdf"),
        (PNG_BYTES, "image/png"),
        (JPEG_BYTES, "image/jpeg"),
    ):
        # The client's claimed type and file name do not matter; the bytes do.
        r = _upload(client, data, name="../../etc/passwd")
        assert r.status_code == 201, r.text
        assert r.json()["content_type"] == expected and r.json()["size_bytes"] == len(data)
        assert r.json()["filename"] == "passwd"
    docs = db.scalars(select(QualificationDocument).order_by(QualificationDocument.id)).all()
    assert len(docs) == 3
    root = Path(settings.storage_dir)
    for doc in docs:
        assert len(doc.file_key) == 32 and "passwd" not in doc.file_key
        stored = root / doc.file_key[:2] / doc.file_key[2:4] / doc.file_key
        assert stored.is_file()
    assert (root / docs[0].file_key[:2] / docs[0].file_key[2:4] / docs[0].file_key).read_bytes() == PDF_BYTES
    assert len(client.get(ME).json()["documents"]) == 3
    assert audit_actions(db, "qualification_document", docs[0].id) == ["qualification_document.upload"]


def test_upload_of_another_type_is_refused_by_its_bytes(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    r = _upload(client, EXE_BYTES, name="licence.pdf")
    assert r.status_code == 422 and problem_fields(r) == ["body.file"]
    assert r.json()["errors"][0]["code"] == "file_type_not_allowed"
    r = _upload(client, b"")
    assert r.status_code == 422 and problem_fields(r) == ["body.file"]
    # A photo must be an image.
    r = _upload(client, PDF_BYTES, kind="photo")
    assert r.status_code == 422 and problem_fields(r) == ["body.file"]
    assert db.scalar(select(QualificationDocument)) is None
    assert not list(Path(settings.storage_dir).rglob("*")) or all(
        p.is_dir() for p in Path(settings.storage_dir).rglob("*")
    )


def test_upload_over_the_size_limit_is_refused_with_413(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    client.app.state.settings = settings.model_copy(update={"max_upload_bytes": 64})  # type: ignore[attr-defined]
    r = _upload(client, PDF_BYTES + b"x" * 64)
    assert r.status_code == 413 and problem_fields(r) == ["body.file"]
    assert r.json()["errors"][0]["code"] == "file_too_large"
    assert _upload(client, PDF_BYTES[:60]).status_code == 201


def test_upload_without_kind_or_file_names_the_missing_field(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    r = client.post(f"{ME}/documents", files={"file": ("a.pdf", PDF_BYTES, "application/pdf")})
    assert r.status_code == 422 and problem_fields(r) == ["body.kind"]
    r = client.post(f"{ME}/documents", data={"kind": "diploma"}, files={"file": ("a.pdf", PDF_BYTES)})
    assert r.status_code == 422 and problem_fields(r) == ["body.kind"]
    r = client.post(f"{ME}/documents", data={"kind": "licence"})
    assert r.status_code == 422 and problem_fields(r) == ["body.file"]


def test_upload_before_starting_a_profile_is_not_found(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _doctor(client, db, settings)
    assert _upload(client, PDF_BYTES).status_code == 404


def test_photo_upload_sets_the_profile_photo(client: TestClient, db: Session, settings: Settings) -> None:
    _, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    assert client.get(ME).json()["has_photo"] is False
    assert _upload(client, JPEG_BYTES, kind="photo", name="me.jpg").status_code == 201
    assert client.get(ME).json()["has_photo"] is True
    first_key = db.scalar(select(StaffProfile.photo_key))
    # A new photo replaces the old one, row and file.
    assert _upload(client, PNG_BYTES, kind="photo", name="me.png").status_code == 201
    profile = db.scalar(select(StaffProfile).execution_options(populate_existing=True))
    assert (
        profile is not None and profile.photo_key != first_key and profile.photo_content_type == "image/png"
    )
    photos = db.scalars(select(QualificationDocument).where(QualificationDocument.kind == "photo")).all()
    assert [p.file_key for p in photos] == [profile.photo_key]
    files = [p for p in Path(settings.storage_dir).rglob("*") if p.is_file()]
    assert [f.name for f in files] == [profile.photo_key]


def test_owner_deletes_a_document_of_a_draft(client: TestClient, db: Session, settings: Settings) -> None:
    _, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    doc = _upload(client, PDF_BYTES).json()
    key = db.scalar(select(QualificationDocument.file_key).where(QualificationDocument.id == doc["id"]))
    assert key is not None
    assert client.delete(f"{ME}/documents/{doc['id']}").status_code == 204
    assert client.get(ME).json()["documents"] == []
    assert not (Path(settings.storage_dir) / key[:2] / key[2:4] / key).exists()
    assert client.delete(f"{ME}/documents/{doc['id']}").status_code == 404


def test_owner_cannot_delete_another_profiles_document(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    other = add_document(db, make_profile(db, make_staff(db, inst), department=dept))
    db.commit()
    assert client.delete(f"{ME}/documents/{other.id}").status_code == 404


# --- submission ------------------------------------------------------------------------------


def test_incomplete_profile_cannot_be_submitted_and_names_what_is_missing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _doctor(client, db, settings)
    client.put(ME, json={"profession": "doctor"})
    r = client.post(f"{ME}/submit")
    assert r.status_code == 422
    assert problem_fields(r) == [
        "profile.title",
        "profile.practice_started_on",
        "profile.licence_no",
        "profile.department_id",
        "profile.documents",
    ]
    assert client.get(ME).json()["review_status"] == "draft"


def test_doctor_with_too_few_practice_years_is_told_at_submission(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, dept, _ = _doctor(client, db, settings)
    client.put(
        ME,
        json=_profile_body(
            dept.id, practice_started_on=years_ago(settings.doctor_min_practice_years - 1).isoformat()
        ),
    )
    _upload(client, PDF_BYTES)
    r = client.post(f"{ME}/submit")
    assert r.status_code == 422 and problem_fields(r) == ["practice_years"]


def test_complete_profile_is_submitted_once_and_then_frozen(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    doc = _upload(client, PDF_BYTES).json()
    r = client.post(f"{ME}/submit")
    assert r.status_code == 200, r.text
    assert r.json()["review_status"] == "submitted" and r.json()["submitted_at"] is not None

    assert client.post(f"{ME}/submit").status_code == 409
    # What the reviewer judges cannot change under them ...
    r = client.put(ME, json=_profile_body(dept.id, licence_no="110110000099999"))
    assert r.status_code == 409 and r.json()["reason"] == "profile_locked"
    assert client.get(ME).json()["licence_no"] == "110110000012345"
    assert _upload(client, PNG_BYTES).status_code == 409
    assert client.delete(f"{ME}/documents/{doc['id']}").status_code == 409
    # ... while the introduction, specialties and the photo may.
    r = client.put(ME, json=_profile_body(dept.id, introduction="新的介绍"))
    assert r.status_code == 200 and r.json()["introduction"] == "新的介绍"
    assert _upload(client, PNG_BYTES, kind="photo").status_code == 201


# --- self-registered applicants --------------------------------------------------------------


def test_pending_applicant_completes_and_submits_with_an_application_session(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst)
    applicant = make_staff(db, inst, roles=["doctor"], status="pending_review")
    applicant_login(client, db, applicant, settings)
    assert client.put(ME, json=_profile_body(dept.id)).status_code == 200
    assert _upload(client, PDF_BYTES).status_code == 201
    r = client.post(f"{ME}/submit")
    assert r.status_code == 200 and r.json()["account_status"] == "pending_review"
    # The application session opens nothing else.
    assert client.get("/api/v1/admin/departments").status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401


def test_application_session_of_an_active_account_is_not_an_applicant(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    account = make_staff(db, inst, roles=["doctor"])
    applicant_login(client, db, account, settings)
    # Active account, half-open (no second factor) session: refused like any unverified session.
    assert client.get(ME).status_code == 401


# --- access ----------------------------------------------------------------------------------

OWN_ENDPOINTS = [
    ("GET", ""),
    ("PUT", ""),
    ("POST", "/documents"),
    ("DELETE", "/documents/1"),
    ("POST", "/submit"),
]


def test_own_profile_endpoints_need_a_session(anon: TestClient) -> None:
    for method, path in OWN_ENDPOINTS:
        assert anon.request(method, ME + path).status_code == 401, (method, path)


def test_own_profile_endpoints_refuse_staff_without_a_profile_to_keep(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["auditor"]), settings)
    for method, path in OWN_ENDPOINTS:
        assert client.request(method, ME + path).status_code == 403, (method, path)


def test_own_profile_needs_the_second_factor(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings, mfa_verified=False)
    assert client.get(ME).status_code == 401


def test_patients_have_no_staff_profile(client: TestClient, db: Session, settings: Settings) -> None:
    from tests.factories import make_patient

    inst = make_institution(db)
    login_as(client, db, make_patient(db, inst), settings)
    assert client.get(ME).status_code == 403
    assert client.put(ME, json={"profession": "doctor"}).status_code == 403


def test_upload_whose_transaction_fails_leaves_no_file_behind(
    client: TestClient, db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ihis.platform import audit

    _, dept, _ = _doctor(client, db, settings)
    client.put(ME, json=_profile_body(dept.id))
    real_record = audit.record

    def failing_record(session, ctx, action, **kw):  # type: ignore[no-untyped-def]
        if action == "qualification_document.upload":
            raise RuntimeError("database went away")
        return real_record(session, ctx, action, **kw)

    monkeypatch.setattr(audit, "record", failing_record)
    with pytest.raises(RuntimeError):
        _upload(client, PDF_BYTES)
    assert [p for p in Path(settings.storage_dir).rglob("*") if p.is_file()] == []
    assert db.scalar(select(QualificationDocument)) is None
