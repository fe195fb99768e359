"""Issue 4's browser journeys (console workstation + patient app), on the demo hospital:

- doctor and patient chat in two browser contexts (text and an image);
- a video call connects with Chromium's fake media devices and both sides see it connected;
- the doctor signs the medical record with the PIN and the patient downloads the PDF, whose
  verification code checks out;
- a rejected consultation refunds the patient.

Setup steps that are not part of a journey (booking and paying, the IT admin's enrolment of the
doctor's signing certificate) go through the API with the page's own session.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from ihis.demo import data
from tests.e2e.support import api_as_page, console_login, demo_staff, patient_login

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)
DOCTOR_PIN = "135790"


def _department_id(server: str, name: str) -> int:
    items = httpx.get(f"{server}/api/v1/public/departments").json()
    return int(next(d["id"] for d in items if d["name"] == name))


def _session_soon(server: str, doctor_username: str, department: str) -> dict[str, Any]:
    """The doctor's next untagged session starting in 10 min to 47 h (the e2e server lets doctors receive
    patients two days early: IHIS_CONSULTATION_EARLY_START_MINUTES), with a slot left."""
    doctor = demo_staff(doctor_username)
    page = httpx.get(
        f"{server}/api/v1/public/sessions",
        params={"department_id": _department_id(server, department), "limit": 100},
    ).json()
    now = dt.datetime.now(dt.UTC)
    for s in page["items"]:
        ours = s["doctor_name"] == doctor.display_name and not s["disease_tags"] and s["remaining"] > 0
        # Not one about to start (it would stop being bookable before the booking reaches it).
        if ours and now + dt.timedelta(minutes=10) < dt.datetime.fromisoformat(
            s["start_at"]
        ) < now + dt.timedelta(hours=47):
            return s  # type: ignore[no-any-return]
    raise AssertionError(f"no session of {doctor.display_name} within 47 h: {page['items'][:3]}")


def _self_visitor(page: Page) -> int:
    visitors = api_as_page(page, "GET", "/api/v1/me/visitors")
    assert isinstance(visitors, list)
    return int(next(v["id"] for v in visitors if v["relation"] == "self"))


def _book_and_pay(page: Page, session: dict[str, Any]) -> dict[str, Any]:
    visitor_id = _self_visitor(page)
    check = api_as_page(
        page,
        "POST",
        "/api/v1/me/eligibility-checks",
        {"visitor_id": visitor_id, "department_id": session["department_id"], "tags": []},
    )
    assert check["eligible"], check
    held = api_as_page(
        page,
        "POST",
        "/api/v1/me/registrations",
        {"session_id": session["id"], "visitor_id": visitor_id, "evidence_id": check["evidence_id"]},
    )
    cashier = api_as_page(page, "POST", f"/api/v1/me/bills/{held['bill_id']}/pay", {"channel": "wechat"})
    page.goto(str(cashier["cashier_url"]))
    page.get_by_test_id("cashier-pay").click()
    expect(page.get_by_test_id("bill-status")).to_have_attribute("data-status", "paid", timeout=30_000)
    return held


def _doctor_console(new_context, username: str) -> Page:  # type: ignore[no-untyped-def]
    doctor = new_context()
    user = demo_staff(username)
    console_login(doctor, user.username, data.STAFF_PASSWORD, user.totp_secret)
    return doctor


def _accept(doctor: Page, registration_id: int) -> int:
    doctor.goto("/console/workstation")
    row = doctor.get_by_test_id(f"ws-waiting-row-{registration_id}")
    expect(row).to_be_visible(timeout=30_000)
    doctor.get_by_test_id(f"ws-preview-{registration_id}").click()
    expect(doctor.get_by_test_id("ws-preview-drawer")).to_be_visible()
    doctor.get_by_test_id("ws-accept").click()
    doctor.wait_for_url(re.compile(r"/console/workstation/consultations/\d+"))
    return int(doctor.url.rstrip("/").rsplit("/", 1)[-1])


def test_doctor_and_patient_chat_with_text_and_an_image_and_a_video_call_connects(
    new_context, server: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    session = _session_soon(server, "doctor04", "消化内科")
    patient = new_context(mobile=True)
    patient_login(patient, "13900100007", data.PATIENT_PASSWORD)  # 吴敏: 消化内科 K21, 120 days ago
    held = _book_and_pay(patient, session)
    doctor = _doctor_console(new_context, "doctor04")
    consultation_id = _accept(doctor, held["id"])
    expect(doctor.get_by_test_id("chat-socket")).to_have_attribute("data-state", "open", timeout=20_000)

    patient.goto(f"/app/consultations/{consultation_id}")
    expect(patient.get_by_test_id("consultation-status")).to_have_attribute("data-status", "in_progress")
    patient.get_by_test_id("chat-input").fill("医生您好，最近血压偏高")
    patient.get_by_test_id("chat-send").click()
    from_patient = doctor.locator("[data-testid=chat-message][data-kind=text]", has_text="血压偏高")
    expect(from_patient).to_have_count(1, timeout=20_000)

    doctor.get_by_test_id("chat-input").fill("请上传最近的血压记录照片")
    doctor.get_by_test_id("chat-send").click()
    expect(patient.locator("[data-testid=chat-message]", has_text="血压记录照片")).to_have_count(
        1, timeout=20_000
    )

    image = tmp_path / "bp.png"
    image.write_bytes(PNG)
    patient.get_by_test_id("chat-image-input").set_input_files(str(image))
    expect(doctor.locator("[data-testid=chat-message][data-kind=image]")).to_have_count(1, timeout=20_000)
    expect(doctor.get_by_test_id("chat-image").first).to_be_visible()

    # Video: the doctor calls, the patient answers; both see the connection established.
    doctor.get_by_test_id("call-start").click()
    expect(patient.get_by_test_id("call-incoming")).to_be_visible(timeout=20_000)
    patient.get_by_test_id("call-answer").click()
    expect(doctor.get_by_test_id("call-state")).to_have_attribute("data-state", "connected", timeout=30_000)
    expect(patient.get_by_test_id("call-state")).to_have_attribute("data-state", "connected", timeout=30_000)
    doctor.get_by_test_id("call-hangup").click()
    expect(doctor.locator("[data-testid=chat-message][data-kind=call]")).to_have_count(1, timeout=20_000)


def test_the_doctor_signs_the_record_and_the_patient_downloads_the_pdf(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    session = _session_soon(server, "doctor02", "内分泌科")
    patient = new_context(mobile=True)
    patient_login(patient, "13900100006", data.PATIENT_PASSWORD)  # 周强: 内分泌科 E11
    held = _book_and_pay(patient, session)

    # IT enrols the doctor's signing certificate; the doctor sets the PIN on the signing page.
    it = new_context()
    it_user = demo_staff("it01")
    console_login(it, it_user.username, data.STAFF_PASSWORD, it_user.totp_secret)
    doctor_id = _staff_id(it, "doctor02")
    api_as_page(it, "POST", f"/api/v1/admin/signers/{doctor_id}/enrol", {})
    doctor = _doctor_console(new_context, "doctor02")
    doctor.goto("/console/me/signing")
    doctor.get_by_test_id("signing-pin-new").fill(DOCTOR_PIN)
    doctor.get_by_test_id("signing-pin-save").click()
    expect(doctor.get_by_test_id("signing-status")).to_have_attribute("data-status", "active", timeout=20_000)

    consultation_id = _accept(doctor, held["id"])
    doctor.get_by_test_id("record-chief-complaint").fill("口干多饮一月")
    doctor.get_by_test_id("record-present-illness").fill("空腹血糖 8.2 mmol/L")
    doctor.get_by_test_id("record-past-history").fill("2 型糖尿病 5 年")
    doctor.get_by_test_id("record-allergy-history").fill("无")
    doctor.get_by_test_id("diagnosis-search").fill("E11")
    doctor.locator("[data-testid^=diagnosis-option-]").first.click()
    doctor.get_by_test_id("record-advice").fill("二甲双胍 0.5 g 每日两次；一个月后复诊")
    doctor.get_by_test_id("record-save").click()
    expect(doctor.get_by_test_id("record-version-1")).to_have_attribute(
        "data-status", "draft", timeout=20_000
    )
    doctor.get_by_test_id("record-sign").click()
    doctor.get_by_test_id("pin-input").fill(DOCTOR_PIN)
    doctor.get_by_test_id("pin-confirm").click()
    expect(doctor.get_by_test_id("record-version-1")).to_have_attribute(
        "data-status", "signed", timeout=30_000
    )

    patient.goto("/app/records")
    item = patient.locator("[data-testid=record-item][data-version='1']").first
    expect(item).to_be_visible(timeout=20_000)
    item.click()
    expect(patient.get_by_test_id("record-signature")).to_be_visible()
    with patient.expect_download() as download:
        patient.get_by_test_id("record-download").click()
    pdf = Path(download.value.path())
    assert pdf.read_bytes().startswith(b"%PDF")
    patient.get_by_test_id("record-verification-code").click()  # the same page the PDF's QR opens
    patient.wait_for_url(re.compile(r"/app/verify/\w+"))
    expect(patient.get_by_test_id("verify-result")).to_have_attribute("data-valid", "true", timeout=20_000)
    assert consultation_id > 0


def _staff_id(page: Page, username: str) -> int:
    found = api_as_page(page, "GET", f"/api/v1/admin/staff?q={username}")
    items = found["items"] if isinstance(found, dict) else found
    return int(next(s["id"] for s in items if s.get("username") == username))  # type: ignore[union-attr]


def test_a_rejected_consultation_refunds_the_patient(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    session = _session_soon(server, "doctor06", "泌尿外科")
    patient = new_context(mobile=True)
    patient_login(patient, "13900100010", data.PATIENT_PASSWORD)  # 陈刚
    held = _book_and_pay(patient, session)
    doctor = _doctor_console(new_context, "doctor06")
    doctor.goto("/console/workstation")
    expect(doctor.get_by_test_id(f"ws-waiting-row-{held['id']}")).to_be_visible(timeout=30_000)
    doctor.get_by_test_id(f"ws-preview-{held['id']}").click()
    doctor.get_by_test_id("ws-reject").click()
    doctor.get_by_test_id("reject-reason").fill("症状有变化，需线下面诊")
    doctor.get_by_test_id("reject-confirm").click()
    expect(doctor.get_by_test_id(f"ws-waiting-row-{held['id']}")).to_have_count(0, timeout=20_000)

    patient.goto(f"/app/registrations/{held['id']}")
    expect(patient.get_by_test_id("registration-status")).to_have_attribute("data-status", "cancelled")
    status = patient.get_by_test_id("refund-status")
    deadline = time.monotonic() + 60
    while status.get_attribute("data-status") != "succeeded" and time.monotonic() < deadline:
        patient.wait_for_timeout(1000)
        patient.reload()
        expect(status).to_be_visible()
    expect(status).to_have_attribute("data-status", "succeeded")
    patient.goto("/app/messages")
    expect(
        patient.locator("[data-testid=message-item][data-event=consultation_rejected]").first
    ).to_be_visible()
