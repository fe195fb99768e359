"""The public directory of the patient end: no login, one institution, only what patients may see."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_org import (
    JPEG_BYTES,
    make_campus,
    make_department,
    make_listed_doctor,
    make_profile,
    problem_fields,
    set_mode,
    set_title_price,
)

PUB = "/api/v1/public"


def _h(inst) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"X-IHIS-Institution": inst.code}


def test_institution_card_shows_campuses_and_registered_subjects_without_phones(
    anon: TestClient, db: Session
) -> None:
    inst = make_institution(
        db,
        registered_subjects="03.01,13.01",
        address="北京市西城区示例路1号",
        phone="010-88888888",
        introduction="三级医院",
    )
    make_campus(db, inst, name="本部", address="示例路1号", phone="010-66666666")
    make_campus(db, inst, name="停用院区", enabled=False)
    db.commit()
    r = anon.get(f"{PUB}/institution", headers=_h(inst))
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == inst.name and body["introduction"] == "三级医院"
    assert [c["name"] for c in body["campuses"]] == ["本部"]
    assert body["subjects"] == [
        {"code": "03.01", "name": "呼吸内科专业"},
        {"code": "13.01", "name": "皮肤病专业"},
    ]
    assert "888888" not in r.text and "666666" not in r.text and "phone" not in r.text


def test_unknown_institution_is_not_found(anon: TestClient) -> None:
    for path in ("/institution", "/departments", "/doctors", "/disclosure"):
        r = anon.get(PUB + path, headers={"X-IHIS-Institution": "NO-SUCH"})
        assert r.status_code == 404, path


def test_departments_list_only_enabled_ones_under_registered_subjects(anon: TestClient, db: Session) -> None:
    inst = make_institution(db, registered_subjects="03.01,13.01")
    campus = make_campus(db, inst, name="东院")
    resp = make_department(db, inst, name="呼吸内科", sort_order=2, campus_id=campus.id)
    derm = make_department(
        db, inst, name="皮肤科", subject_code="13.01", subject_name="皮肤病专业", sort_order=1
    )
    make_department(db, inst, name="停诊科", enabled=False)
    # Deregistered since it was opened: it must not appear (online subjects never exceed the physical ones).
    make_department(db, inst, name="精神科", subject_code="15.01", subject_name="精神病专业")
    make_department(db, make_institution(db), name="别家的科")
    make_listed_doctor(db, inst, resp)
    db.commit()
    listed = anon.get(f"{PUB}/departments", headers=_h(inst)).json()
    assert [d["name"] for d in listed] == ["皮肤科", "呼吸内科"]
    assert (
        listed[1]["campus_name"] == "东院"
        and listed[1]["doctor_count"] == 1
        and listed[0]["doctor_count"] == 0
    )
    assert [
        d["id"]
        for d in anon.get(f"{PUB}/departments", params={"campus_id": campus.id}, headers=_h(inst)).json()
    ] == [resp.id]
    assert derm.id in [d["id"] for d in listed]


def test_department_page_shows_its_description_and_doctors(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst, introduction="概况", scope="诊疗范围", strengths="优势特色")
    doctor = make_listed_doctor(db, inst, dept)
    disabled = make_department(db, inst, enabled=False)
    foreign = make_department(db, make_institution(db))
    db.commit()
    r = anon.get(f"{PUB}/departments/{dept.id}", headers=_h(inst))
    assert r.status_code == 200
    body = r.json()
    assert (body["introduction"], body["scope"], body["strengths"]) == ("概况", "诊疗范围", "优势特色")
    assert [d["id"] for d in body["doctors"]] == [doctor.id]
    assert anon.get(f"{PUB}/departments/{disabled.id}", headers=_h(inst)).status_code == 404
    assert anon.get(f"{PUB}/departments/{foreign.id}", headers=_h(inst)).status_code == 404


def test_doctors_list_only_approved_profiles_with_service_on(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst)
    listed = make_listed_doctor(db, inst, dept)
    make_listed_doctor(db, inst, dept, service_on=False)
    for status in ("draft", "submitted", "rejected"):
        make_profile(db, make_staff(db, inst), department=dept, status=status, service_on=True)
    make_listed_doctor(db, inst, make_department(db, inst, enabled=False))
    disabled_account = make_listed_doctor(db, inst, dept)
    from ihis.identity.models import UserAccount

    db.get(UserAccount, disabled_account.user_id).status = "disabled"  # type: ignore[union-attr]
    make_listed_doctor(db, inst, dept, profession="pharmacist", title="主管药师")
    make_listed_doctor(db, make_institution(db), make_department(db, make_institution(db)))
    db.commit()
    page = anon.get(f"{PUB}/doctors", headers=_h(inst)).json()
    assert [d["id"] for d in page["items"]] == [listed.id]
    assert page["total"] == 1


def test_doctor_card_shows_title_specialties_modes_prices_and_a_masked_licence(
    anon: TestClient, db: Session
) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst, name="呼吸内科")
    set_title_price(db, inst, "主任医师", "video", 9000)
    set_title_price(db, inst, "主任医师", "phone", 5000)
    doctor = make_listed_doctor(
        db,
        inst,
        dept,
        title="主任医师",
        display_name="李肺",
        licence_no="110110000012345",
        text_price_fen=3000,
    )
    set_mode(db, doctor, "video")  # title price applies
    set_mode(db, doctor, "phone", enabled=False)  # priced but switched off
    db.commit()
    r = anon.get(f"{PUB}/doctors/{doctor.id}", headers=_h(inst))
    assert r.status_code == 200
    card = r.json()
    assert card["name"] == "李肺" and card["title"] == "主任医师" and card["department_name"] == "呼吸内科"
    assert card["specialties"] == "慢性阻塞性肺疾病" and card["practice_years"] == 10
    assert card["modes"] == [{"mode": "text", "price_fen": 3000}, {"mode": "video", "price_fen": 9000}]
    assert card["rating"] is None
    assert card["licence_no_masked"] == "110********2345"
    assert "110110000012345" not in r.text and "qualification_no_masked" in card
    assert card["qualification_no_masked"] is not None and "2001110000" not in r.text


def test_doctors_are_filtered_by_department_title_mode_and_keyword(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    resp, derm = make_department(db, inst, name="呼吸内科"), make_department(db, inst, name="皮肤科")
    chief = make_listed_doctor(db, inst, resp, title="主任医师", display_name="赵主任", specialties="哮喘")
    attending = make_listed_doctor(
        db, inst, resp, title="主治医师", display_name="钱主治", specialties="肺结节"
    )
    skin = make_listed_doctor(db, inst, derm, title="副主任医师", display_name="孙皮肤", specialties="湿疹")
    set_mode(db, skin, "video", price_fen=6000)
    set_mode(db, attending, "video")  # enabled but no price anywhere: not bookable, not matched
    db.commit()

    def ids(**params: object) -> list[int]:
        page = anon.get(f"{PUB}/doctors", params=params, headers=_h(inst)).json()
        return [d["id"] for d in page["items"]]

    # Senior titles first.
    assert ids() == [chief.id, skin.id, attending.id]
    assert ids(department_id=resp.id) == [chief.id, attending.id]
    assert ids(title="主治医师") == [attending.id]
    assert ids(mode="video") == [skin.id]
    assert ids(keyword="结节") == [attending.id]
    assert ids(keyword="皮肤") == [skin.id]
    assert ids(keyword="100%") == []
    assert ids(limit=1, offset=1) == [skin.id]
    r = anon.get(f"{PUB}/doctors", params={"mode": "fax"}, headers=_h(inst))
    assert r.status_code == 422 and problem_fields(r) == ["query.mode"]
    r = anon.get(f"{PUB}/doctors", params={"limit": 1000}, headers=_h(inst))
    assert r.status_code == 422 and problem_fields(r) == ["query.limit"]


def test_unlisted_or_foreign_doctor_pages_are_not_found(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst)
    draft = make_profile(db, make_staff(db, inst), department=dept, service_on=True)
    other_inst = make_institution(db)
    foreign = make_listed_doctor(db, other_inst, make_department(db, other_inst))
    db.commit()
    assert anon.get(f"{PUB}/doctors/{draft.id}", headers=_h(inst)).status_code == 404
    assert anon.get(f"{PUB}/doctors/{foreign.id}", headers=_h(inst)).status_code == 404
    # The same doctor is visible under its own institution.
    assert anon.get(f"{PUB}/doctors/{foreign.id}", headers=_h(other_inst)).status_code == 200


def test_public_responses_carry_no_phone_or_full_certificate_number(anon: TestClient, db: Session) -> None:
    from ihis.platform.crypto.fields import blind_index

    inst = make_institution(db)
    dept = make_department(db, inst)
    doctor = make_listed_doctor(
        db, inst, dept, licence_no="110110000054321", qualification_no="200111000054321"
    )
    from ihis.identity.models import UserAccount

    account = db.get(UserAccount, doctor.user_id)
    assert account is not None
    account.phone, account.phone_bidx = "13912345678", blind_index("13912345678", "phone")
    db.commit()
    bodies = [
        anon.get(f"{PUB}{path}", headers=_h(inst)).text
        for path in (
            "/institution",
            "/departments",
            f"/departments/{dept.id}",
            "/doctors",
            f"/doctors/{doctor.id}",
        )
    ]
    for text in bodies:
        assert "13912345678" not in text and "054321" not in text
        assert 'phone"' not in json.dumps(json.loads(text)).replace('"mode": "phone"', "")


def test_doctor_photo_is_served_for_listed_doctors_only(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst)
    doctor = make_listed_doctor(db, inst, dept)
    from ihis.identity.models import UserAccount

    account = db.get(UserAccount, doctor.user_id)
    assert account is not None
    login_as(client, db, account, settings)
    r = client.post(
        "/api/v1/me/staff-profile/documents", data={"kind": "photo"}, files={"file": ("me.jpg", JPEG_BYTES)}
    )
    assert r.status_code == 201, r.text
    assert anon.get(f"{PUB}/doctors/{doctor.id}", headers=_h(inst)).json()["has_photo"] is True
    r = anon.get(f"{PUB}/doctors/{doctor.id}/photo", headers=_h(inst))
    assert r.status_code == 200 and r.content == JPEG_BYTES and r.headers["content-type"] == "image/jpeg"
    doctor.service_on = False
    db.commit()
    assert anon.get(f"{PUB}/doctors/{doctor.id}/photo", headers=_h(inst)).status_code == 404
    assert anon.get(f"{PUB}/doctors/{doctor.id + 999}/photo", headers=_h(inst)).status_code == 404


def test_disclosure_page_lists_every_item_of_the_institution(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    client.put("/api/v1/admin/disclosure/booking_rules", json={"title": "预约规则", "body": "提前7天放号"})
    other = make_institution(db)
    r = anon.get(f"{PUB}/disclosure", headers=_h(inst))
    assert r.status_code == 200
    items = {i["key"]: i for i in r.json()}
    assert len(items) == 9
    assert (
        items["booking_rules"]["body"] == "提前7天放号" and items["booking_rules"]["updated_at"] is not None
    )
    assert items["complaints"]["body"] == ""
    other_items = {i["key"]: i for i in anon.get(f"{PUB}/disclosure", headers=_h(other)).json()}
    assert other_items["booking_rules"]["body"] == ""
    assert "updated_by" not in items["booking_rules"]


def test_default_institution_applies_without_the_header(
    anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db, code=settings.default_institution_code)
    db.commit()
    r = anon.get(f"{PUB}/institution")
    assert r.status_code == 200 and r.json()["code"] == inst.code
