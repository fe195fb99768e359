"""Issue 5's browser journeys that need no drug order yet (console prescribing panel, pharmacist
review workbench, patient app), on the demo hospital:

- a controlled drug cannot be prescribed (shown flagged in the search, never added);
- a child under 6 is blocked until the guardian and the accompanying clinician are recorded;
- a prescription with a warning overridden is signed and submitted, the pharmacist rejects it, the
  doctor revises and resubmits (a new signed version), the pharmacist approves with the checklist
  and the PIN, and the patient sees it approved.

Setup steps that are not part of a journey (booking and paying, the IT admin's enrolment of signing
certificates) go through the API with the page's own session.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from ihis.demo import data
from ihis.prescribing.review import CHECKLIST
from tests.e2e.support import api_as_page, console_login, demo_staff, patient_login
from tests.e2e.test_consultation_journeys import (
    _accept,
    _doctor_console,
    _self_visitor,
    _session_soon,
    _staff_id,
)

DOCTOR_PIN = "258036"
PHARMACIST_PIN = "369147"


def _input(page: Page, test_id: str):  # type: ignore[no-untyped-def]
    """The native input of an Element Plus field carrying ``test_id`` (on the input or its wrapper)."""
    element = page.get_by_test_id(test_id)
    tag = element.evaluate("e => e.tagName")
    return element if tag in ("INPUT", "TEXTAREA") else element.locator("input").first


def _book_and_pay(
    page: Page, session: dict[str, object], visitor_id: int, **extra: object
) -> dict[str, object]:
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
        {"session_id": session["id"], "visitor_id": visitor_id, "evidence_id": check["evidence_id"], **extra},
    )
    cashier = api_as_page(page, "POST", f"/api/v1/me/bills/{held['bill_id']}/pay", {"channel": "wechat"})
    page.goto(str(cashier["cashier_url"]))
    page.get_by_test_id("cashier-pay").click()
    expect(page.get_by_test_id("bill-status")).to_have_attribute("data-status", "paid", timeout=30_000)
    return held


def _enrol(new_context, *usernames: str) -> None:  # type: ignore[no-untyped-def]
    """IT enrols signing certificates (each person then sets their own PIN)."""
    it = new_context()
    it_user = demo_staff("it01")
    console_login(it, it_user.username, data.STAFF_PASSWORD, it_user.totp_secret)
    for username in usernames:
        api_as_page(it, "POST", f"/api/v1/admin/signers/{_staff_id(it, username)}/enrol", {})


def _set_pin(page: Page, pin: str) -> None:
    page.goto("/console/me/signing")
    page.get_by_test_id("signing-pin-new").fill(pin)
    page.get_by_test_id("signing-pin-save").click()
    expect(page.get_by_test_id("signing-status")).to_have_attribute("data-status", "active", timeout=20_000)


def _open_prescribing(doctor: Page, diagnosis: str) -> None:
    """Record a diagnosis (prescriptions start from the record's), then a new western prescription."""
    doctor.get_by_test_id("record-chief-complaint").fill("复诊配药")
    doctor.get_by_test_id("diagnosis-search").fill(diagnosis)
    doctor.locator("[data-testid^=diagnosis-option-]").first.click()
    doctor.get_by_test_id("record-save").click()
    expect(doctor.get_by_test_id("record-version-1")).to_have_attribute(
        "data-status", "draft", timeout=20_000
    )
    doctor.locator("#tab-rx").click()
    doctor.get_by_test_id("rx-new-western").click()
    expect(doctor.get_by_test_id("rx-editor")).to_have_attribute("data-status", "draft", timeout=20_000)


def _add_drug(doctor: Page, query: str, code: str, dose: str | None = None) -> None:
    _input(doctor, "rx-drug-search").fill(query)
    doctor.get_by_test_id(f"rx-hit-{code}").click()
    if dose is not None:
        rows = doctor.locator("[data-testid^=rx-line-]").count()
        _input(doctor, f"rx-dose-{rows - 1}").fill(dose)


def test_a_controlled_drug_cannot_be_prescribed(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    session = _session_soon(server, "doctor14", "泌尿外科")
    patient = new_context(mobile=True)
    patient_login(patient, "13900100004", data.PATIENT_PASSWORD)  # 赵磊: 泌尿外科 N40
    held = _book_and_pay(patient, session, _self_visitor(patient))
    doctor = _doctor_console(new_context, "doctor14")
    _accept(doctor, int(held["id"]))  # type: ignore[arg-type]
    _open_prescribing(doctor, "N40")

    _input(doctor, "rx-drug-search").fill("地西泮")
    hit = doctor.get_by_test_id("rx-hit-C002")
    expect(hit).to_be_visible(timeout=20_000)
    expect(hit).to_contain_text("管制药品")
    hit.click()
    expect(doctor.locator("[data-testid^=rx-line-]")).to_have_count(0)
    expect(doctor.get_by_test_id("rx-submit")).to_be_disabled()


def test_a_child_under_six_is_blocked_without_guardian_details(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    session = _session_soon(server, "doctor03", "呼吸内科")
    parent = new_context(mobile=True)
    patient_login(parent, "13900100001", data.PATIENT_PASSWORD)  # 张三, for his son 张小宝 (4 years)
    visitors = api_as_page(parent, "GET", "/api/v1/me/visitors")
    child = next(v for v in visitors if v["relation"] == "child")  # type: ignore[union-attr,index]
    held = _book_and_pay(parent, session, int(child["id"]), guardian_accompanied=True)  # type: ignore[index]
    doctor = _doctor_console(new_context, "doctor03")
    _accept(doctor, int(held["id"]))  # type: ignore[arg-type]
    _open_prescribing(doctor, "J45")

    _add_drug(doctor, "阿莫西林颗粒", "D024", dose="125")
    doctor.get_by_test_id("rx-save").click()
    # The draft was checked when created (no lines yet); wait for the check of the saved lines.
    expect(doctor.get_by_test_id("rx-finding-no_lines")).to_have_count(0, timeout=20_000)
    expect(doctor.get_by_test_id("rx-finding-guardian_required")).to_be_visible()
    expect(doctor.get_by_test_id("rx-finding-accompanying_clinician_required")).to_be_visible()
    expect(doctor.get_by_test_id("rx-finding-guardian_required")).to_have_attribute("data-severity", "block")

    doctor.get_by_test_id("rx-guardian-name").fill("张三")
    doctor.get_by_test_id("rx-guardian-relation").fill("父亲")
    doctor.get_by_test_id("rx-clinician").fill("护士 李娜")
    doctor.get_by_test_id("rx-save").click()
    expect(doctor.get_by_test_id("rx-finding-guardian_required")).to_have_count(0, timeout=20_000)
    expect(doctor.get_by_test_id("rx-finding-accompanying_clinician_required")).to_have_count(0)


def _override_all_warnings(doctor: Page, reason: str) -> None:
    inputs = doctor.locator("[data-testid^=rx-override-]")
    for i in range(inputs.count()):
        field = inputs.nth(i)
        target = field if field.evaluate("e => e.tagName") == "INPUT" else field.locator("input").first
        target.fill(reason)


def _submit(doctor: Page) -> None:
    doctor.get_by_test_id("rx-submit").click()
    doctor.get_by_test_id("rx-pin-input").fill(DOCTOR_PIN)
    doctor.get_by_test_id("rx-pin-confirm").click()
    expect(doctor.get_by_test_id("rx-editor")).to_have_attribute(
        "data-status", "pending_review", timeout=30_000
    )


def _claim(pharmacist: Page, number: str) -> None:
    pharmacist.goto("/console/pharmacy/reviews")
    row = pharmacist.locator("[data-testid=review-queue] tr", has_text=number)
    expect(row).to_be_visible(timeout=30_000)
    row.locator("[data-testid^=review-claim-]").click()
    expect(pharmacist.get_by_test_id("review-integrity")).to_have_attribute("data-ok", "true", timeout=20_000)


def test_a_rejected_prescription_is_revised_and_then_approved(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    session = _session_soon(server, "doctor11", "呼吸内科")
    patient = new_context(mobile=True)
    patient_login(patient, "13900100005", data.PATIENT_PASSWORD)  # 孙丽: 呼吸内科 J45
    held = _book_and_pay(patient, session, _self_visitor(patient))
    _enrol(new_context, "doctor11", "pharm01")
    doctor = _doctor_console(new_context, "doctor11")
    _set_pin(doctor, DOCTOR_PIN)
    pharmacist = new_context()
    pharm = demo_staff("pharm01")
    console_login(pharmacist, pharm.username, data.STAFF_PASSWORD, pharm.totp_secret)
    _set_pin(pharmacist, PHARMACIST_PIN)
    pharmacist.goto("/console/pharmacy/reviews")
    pharmacist.get_by_test_id("duty-check-in").click()
    expect(pharmacist.get_by_test_id("duty-check-out")).to_be_visible(timeout=20_000)

    _accept(doctor, int(held["id"]))  # type: ignore[arg-type]
    _open_prescribing(doctor, "J45")
    # Warfarin with aspirin: a known interaction, a warning the doctor overrides with a reason.
    _add_drug(doctor, "华法林", "D015", dose="2.5")
    _add_drug(doctor, "阿司匹林", "D013", dose="100")
    doctor.get_by_test_id("rx-save").click()
    expect(doctor.get_by_test_id("rx-finding-no_lines")).to_have_count(0, timeout=20_000)
    expect(doctor.locator("[data-testid^=rx-finding-][data-severity=warn]").first).to_be_visible(
        timeout=20_000
    )
    _override_all_warnings(doctor, "房颤合并冠心病，已评估出血风险，监测 INR")
    _submit(doctor)
    number = doctor.get_by_test_id("rx-number").inner_text().strip()

    _claim(pharmacist, number)
    expect(pharmacist.locator("[data-testid^=review-override-]").first).to_contain_text("监测 INR")
    pharmacist.get_by_test_id("review-reject").click()
    pharmacist.get_by_test_id("review-reject-reason").fill("阿司匹林与华法林联用出血风险高，请调整")
    pharmacist.get_by_test_id("review-reject-confirm").click()
    expect(pharmacist.get_by_test_id("review-drawer")).to_be_hidden(timeout=20_000)

    doctor.reload()
    doctor.locator("#tab-rx").click()
    expect(doctor.get_by_test_id("rx-editor")).to_have_attribute("data-status", "rejected", timeout=20_000)
    expect(doctor.get_by_test_id("rx-reject-reason")).to_contain_text("出血风险")
    doctor.get_by_test_id("rx-revise").click()
    expect(doctor.get_by_test_id("rx-editor")).to_have_attribute("data-status", "draft", timeout=20_000)
    doctor.get_by_test_id("rx-remove-1").click()  # drop aspirin
    doctor.get_by_test_id("rx-save").click()
    expect(doctor.get_by_test_id("rx-finding-interaction")).to_have_count(0, timeout=20_000)
    _override_all_warnings(doctor, "房颤抗凝，监测 INR")
    _submit(doctor)

    _claim(pharmacist, number)
    for item in CHECKLIST:
        pharmacist.get_by_test_id(f"check-{item}").click()
    pharmacist.get_by_test_id("review-approve").click()
    pharmacist.get_by_test_id("review-pin-input").fill(PHARMACIST_PIN)
    pharmacist.get_by_test_id("review-pin-confirm").click()
    expect(pharmacist.get_by_test_id("review-drawer")).to_be_hidden(timeout=30_000)

    patient.goto("/app/prescriptions")
    item = patient.locator("[data-testid=prescription-item][data-status=approved]").first
    expect(item).to_be_visible(timeout=20_000)
    item.click()
    patient.wait_for_url(re.compile(r"/app/prescriptions/\d+"))
    expect(patient.get_by_test_id("prescription-number")).to_contain_text(number)
    expect(patient.get_by_test_id("prescription-timeline")).to_contain_text("药师审核通过")
