"""Issue 5's full loop in the browser, on the demo hospital: the doctor prescribes with a warning
overridden and signs; a pharmacist reviews, ticks the checklist and approves with a signature; the
patient confirms home delivery to a new address and pays at the channel's cashier; the pharmacy
dispenses, a second pharmacist re-checks, the parcel is packed and handed to the courier; the courier
sandbox moves the parcel to delivery with signed events the patient follows live; the patient gives
the pickup code, which the pharmacy records, and the order is closed.

Enrolment of signing certificates (IT) and the booking of the visit go through the API with the
page's own session: they are not part of this journey and have their own browser tests.
"""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import Page, expect

from ihis.demo import data
from ihis.prescribing.review import CHECKLIST
from tests.e2e.support import api_as_page, console_login, demo_staff, patient_login
from tests.e2e.test_consultation_journeys import _accept, _doctor_console, _self_visitor, _session_soon
from tests.e2e.test_prescription_journeys import (
    DOCTOR_PIN,
    PHARMACIST_PIN,
    _add_drug,
    _book_and_pay,
    _claim,
    _enrol,
    _input,
    _open_prescribing,
    _override_all_warnings,
    _set_pin,
    _submit,
)

_ENROLLED: set[str] = set()
_PIN_SET: set[str] = set()


def _ready_to_sign(new_context, *usernames: str) -> None:  # type: ignore[no-untyped-def]
    """IT enrols each signer once per server (the journeys of this module share the demo hospital)."""
    missing = [u for u in usernames if u not in _ENROLLED]
    if missing:
        _enrol(new_context, *missing)
        _ENROLLED.update(missing)


def _pin_once(page: Page, username: str, pin: str) -> None:
    if username not in _PIN_SET:
        _set_pin(page, pin)
        _PIN_SET.add(username)


def _on_duty(pharmacist: Page) -> None:
    """The pharmacist checks in on the review page, unless already on duty from an earlier journey."""
    pharmacist.goto("/console/pharmacy/reviews")
    if api_as_page(pharmacist, "GET", "/api/v1/pharmacy/duty")["me"] is None:
        pharmacist.get_by_test_id("duty-check-in").click()
    expect(pharmacist.get_by_test_id("duty-check-out")).to_be_visible(timeout=20_000)


def _staff(new_context, username: str) -> Page:  # type: ignore[no-untyped-def]
    page = new_context()
    user = demo_staff(username)
    console_login(page, user.username, data.STAFF_PASSWORD, user.totp_secret)
    return page


def _approve(pharmacist: Page, number: str, override: str | None = None) -> None:
    _claim(pharmacist, number)
    if override:
        expect(pharmacist.locator("[data-testid^=review-override-]").first).to_contain_text(override)
    for item in CHECKLIST:
        pharmacist.get_by_test_id(f"check-{item}").click()
    pharmacist.get_by_test_id("review-approve").click()
    pharmacist.get_by_test_id("review-pin-input").fill(PHARMACIST_PIN)
    pharmacist.get_by_test_id("review-pin-confirm").click()
    expect(pharmacist.get_by_test_id("review-drawer")).to_be_hidden(timeout=30_000)


def _order_row_step(pharmacy: Page, status: str, order_id: int, action: str) -> None:
    """On the pharmacy orders page, the order waits in ``status``; take its next step ``action``."""
    pharmacy.get_by_test_id(f"orders-status-{status}").click()
    button = pharmacy.get_by_test_id(f"order-{action}-{order_id}")
    expect(button).to_be_visible(timeout=20_000)
    button.click()
    expect(pharmacy.get_by_test_id(f"order-{action}-{order_id}")).to_have_count(0, timeout=20_000)


def _patient_order_status(patient: Page, status: str, *, reload: bool = False) -> None:
    """The order page shows ``status`` and no error; with ``reload``, the page is reopened until it does (the
    change arrives from a job after commit: a payment notice, a courier event)."""
    head = patient.get_by_test_id("order-head")
    expect(patient.get_by_test_id("order-error")).to_have_count(0)
    deadline = time.monotonic() + 60
    while reload and time.monotonic() < deadline:
        if head.get_attribute("data-status", timeout=10_000) == status:
            return
        time.sleep(0.5)
        patient.reload()
    expect(head).to_have_attribute("data-status", status, timeout=60_000)


def _advance_courier(server: str, waybill_no: str, status: str) -> None:
    """The courier sandbox moves the parcel and pushes its signed tracking event to IHIS."""
    answer = httpx.post(
        f"{server}/sandbox/courier/waybills/{waybill_no}/advance", params={"status": status}, timeout=20
    )
    assert answer.status_code == 200, answer.text


def test_prescribe_approve_pay_deliver_and_sign_off_with_the_pickup_code(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    session = _session_soon(server, "doctor07", "皮肤科")
    patient = new_context(mobile=True)
    patient_login(patient, "13900100008", data.PATIENT_PASSWORD)  # 郑浩: 皮肤科 L20, 60 days ago
    held = _book_and_pay(patient, session, _self_visitor(patient))
    _ready_to_sign(new_context, "doctor07", "pharm02")
    doctor = _doctor_console(new_context, "doctor07")
    _pin_once(doctor, "doctor07", DOCTOR_PIN)
    reviewer = _staff(new_context, "pharm02")
    _pin_once(reviewer, "pharm02", PHARMACIST_PIN)
    _on_duty(reviewer)

    # The doctor prescribes ibuprofen for atopic dermatitis: outside its indications, a warning the
    # doctor overrides with a reason the pharmacist will read.
    _accept(doctor, int(held["id"]))  # type: ignore[arg-type]
    _open_prescribing(doctor, "L20")
    _add_drug(doctor, "布洛芬缓释", "D020", dose="300")
    doctor.get_by_test_id("rx-save").click()
    expect(doctor.get_by_test_id("rx-finding-no_lines")).to_have_count(0, timeout=20_000)
    warning = doctor.locator("[data-testid^=rx-finding-][data-severity=warn]").first
    expect(warning).to_be_visible(timeout=20_000)
    _override_all_warnings(doctor, "皮损瘙痒伴关节疼痛，短期对症止痛")
    _submit(doctor)
    number = doctor.get_by_test_id("rx-number").inner_text().strip()

    _approve(reviewer, number, override="对症止痛")

    # The patient opens the order from the approved prescription, adds an address, chooses delivery.
    patient.goto("/app/prescriptions")
    patient.locator(
        "[data-testid=prescription-item][data-status=approved]", has_text="布洛芬缓释胶囊"
    ).click()
    patient.wait_for_url(re.compile(r"/app/prescriptions/\d+"))
    patient.get_by_test_id("prescription-order").click(timeout=30_000)
    patient.wait_for_url(re.compile(r"/app/drug-orders/\d+"))
    order_id = int(patient.url.rstrip("/").rsplit("/", 1)[-1])
    _patient_order_status(patient, "awaiting_confirmation")
    expect(patient.get_by_test_id("order-lines")).to_contain_text("布洛芬缓释胶囊")
    patient.get_by_test_id("pickup-delivery").click()
    patient.get_by_test_id("address-add").click()
    patient.get_by_test_id("address-recipient").locator("input").fill("郑浩")
    patient.get_by_test_id("address-phone").locator("input").fill("13900100008")
    patient.get_by_test_id("address-region").locator("input").fill("北京市朝阳区")
    patient.get_by_test_id("address-detail").locator("input").fill("望京街道 阜通东大街 6 号 2 单元 801")
    patient.get_by_test_id("address-save").click()
    expect(patient.get_by_test_id("address-form")).to_be_hidden()
    expect(patient.locator("[data-testid^=address-]", has_text="望京街道")).to_be_visible()
    patient.get_by_test_id("order-confirm-button").click()
    _patient_order_status(patient, "awaiting_payment")

    patient.get_by_test_id("pay-channel-alipay").click()
    patient.get_by_test_id("pay-submit").click()
    patient.wait_for_url(re.compile(r"/sandbox/"))
    patient.get_by_test_id("cashier-pay").click()
    patient.goto(f"/app/drug-orders/{order_id}")
    _patient_order_status(patient, "paid", reload=True)

    # Dispensing by one pharmacist, the re-check by another, packing and the courier handover.
    dispenser = _staff(new_context, "pharm03")
    dispenser.goto("/console/pharmacy/orders")
    _order_row_step(dispenser, "paid", order_id, "dispense")
    reviewer.goto("/console/pharmacy/orders")
    _order_row_step(reviewer, "dispensing", order_id, "recheck")
    _order_row_step(reviewer, "dispensed", order_id, "pack")
    _order_row_step(reviewer, "packed", order_id, "handover")
    reviewer.get_by_test_id("orders-status-handed_over").click()
    expect(reviewer.get_by_test_id(f"order-status-{order_id}")).to_be_visible(timeout=20_000)

    patient.reload()
    _patient_order_status(patient, "handed_over")
    waybill_no = re.search(r"·\s*(\S+)", patient.locator("h3", has_text="·").first.inner_text())
    assert waybill_no, "the waybill number is shown with the delivery"
    code = patient.get_by_test_id("pickup-code").inner_text().strip()
    assert re.fullmatch(r"\d{6}", code), code

    # The courier collects, carries and delivers: each signed event reaches the patient's timeline.
    for status in ("picked_up", "in_transit", "out_for_delivery", "delivered"):
        _advance_courier(server, waybill_no.group(1), status)
    _patient_order_status(patient, "delivered", reload=True)
    shipment = patient.get_by_test_id("order-shipment")
    for shown in ("已揽收", "运输中", "派送中", "已签收"):
        expect(shipment).to_contain_text(shown)

    # The patient gives the code to the courier; the pharmacy records it, a wrong code first.
    reviewer.get_by_test_id("orders-status-delivered").click()
    reviewer.get_by_test_id(f"order-signoff-{order_id}").click()
    wrong = "000000" if code != "000000" else "111111"
    _input(reviewer, "signoff-code").fill(wrong)
    reviewer.get_by_test_id("signoff-confirm").click()
    expect(reviewer.get_by_test_id("signoff-error")).to_be_visible(timeout=20_000)
    _input(reviewer, "signoff-code").fill(code)
    reviewer.get_by_test_id("signoff-confirm").click()
    expect(reviewer.get_by_test_id("signoff-dialog")).to_be_hidden(timeout=20_000)

    patient.reload()
    _patient_order_status(patient, "signed_off")
    expect(patient.get_by_test_id("order-pickup-code")).to_have_count(0)
    expect(patient.get_by_test_id("order-guidance")).to_contain_text("布洛芬缓释胶囊")


def _prescribed_and_approved(
    new_context,
    server: str,
    patient: Page,
    visitor_id: int,
    doctor_name: str,
    department: str,
    diagnosis: str,
    drug: tuple[str, str, str],
) -> None:  # type: ignore[no-untyped-def]
    """Setup of the journeys below: a visit booked and paid, a prescription signed and approved (each
    step has its own journey above and in test_prescription_journeys)."""
    session = _session_soon(server, doctor_name, department)
    held = _book_and_pay(patient, session, visitor_id)
    _ready_to_sign(new_context, doctor_name, "pharm02")
    doctor = _doctor_console(new_context, doctor_name)
    _pin_once(doctor, doctor_name, DOCTOR_PIN)
    reviewer = _staff(new_context, "pharm02")
    _pin_once(reviewer, "pharm02", PHARMACIST_PIN)
    _on_duty(reviewer)
    _accept(doctor, int(held["id"]))  # type: ignore[arg-type]
    _open_prescribing(doctor, diagnosis)
    _add_drug(doctor, *drug)
    doctor.get_by_test_id("rx-save").click()
    expect(doctor.get_by_test_id("rx-finding-no_lines")).to_have_count(0, timeout=20_000)
    _submit(doctor)
    _approve(reviewer, doctor.get_by_test_id("rx-number").inner_text().strip())


def _open_new_order(patient: Page, drug_name: str) -> int:
    """From the patient's order list, the order awaiting confirmation for ``drug_name``."""
    patient.goto("/app/drug-orders")
    item = patient.locator("[data-testid=order-item]", has_text=drug_name).first
    deadline = time.monotonic() + 30
    while not item.is_visible() and time.monotonic() < deadline:
        time.sleep(0.5)  # the order is created by a job after the approval's commit
        patient.reload()
    item.click()
    patient.wait_for_url(re.compile(r"/app/drug-orders/\d+"))
    _patient_order_status(patient, "awaiting_confirmation")
    return int(patient.url.rstrip("/").rsplit("/", 1)[-1])


def _pay(patient: Page, order_id: int) -> None:
    patient.get_by_test_id("pay-submit").click()
    patient.wait_for_url(re.compile(r"/sandbox/"))
    patient.get_by_test_id("cashier-pay").click()
    patient.goto(f"/app/drug-orders/{order_id}")
    _patient_order_status(patient, "paid", reload=True)


def test_window_pickup_with_the_qr_code_signed_off_by_id_check_then_an_adverse_reaction_report(
    new_context, server: str
) -> None:  # type: ignore[no-untyped-def]
    patient = new_context(mobile=True)
    patient_login(patient, "13900100001", data.PATIENT_PASSWORD)  # 张三 (insured): 内分泌科 E11
    _prescribed_and_approved(
        new_context,
        server,
        patient,
        _self_visitor(patient),
        "doctor18",
        "内分泌科",
        "E11",
        ("二甲双胍", "D008", "500"),
    )
    order_id = _open_new_order(patient, "盐酸二甲双胍片")
    patient.get_by_test_id("pickup-window").click()
    patient.get_by_test_id("order-confirm-button").click()
    _patient_order_status(patient, "awaiting_payment")
    _pay(patient, order_id)

    dispenser = _staff(new_context, "pharm03")
    dispenser.goto("/console/pharmacy/orders")
    _order_row_step(dispenser, "paid", order_id, "dispense")
    checker = _staff(new_context, "pharm02")
    checker.goto("/console/pharmacy/orders")
    _order_row_step(checker, "dispensing", order_id, "recheck")
    _order_row_step(checker, "dispensed", order_id, "pack")
    _order_row_step(checker, "packed", order_id, "ready")

    patient.reload()
    _patient_order_status(patient, "ready_for_pickup")
    expect(patient.get_by_test_id("pickup-code")).to_have_text(re.compile(r"^\s*\d{6}\s*$"))
    expect(patient.get_by_test_id("order-qr")).to_be_visible()

    # At the window the patient has forgotten the phone: the pharmacist checks the ID card instead.
    id_number = next(p for p in data.all_identities() if p.name == "张三").id_number
    checker.get_by_test_id("orders-status-ready_for_pickup").click()
    checker.get_by_test_id(f"order-signoff-{order_id}").click()
    checker.get_by_test_id("signoff-mode-id").click()
    _input(checker, "signoff-id").fill(id_number[-4:])
    checker.get_by_test_id("signoff-confirm").click()
    expect(checker.get_by_test_id("signoff-dialog")).to_be_hidden(timeout=20_000)

    patient.reload()
    _patient_order_status(patient, "signed_off")
    expect(patient.get_by_test_id("order-guidance")).to_contain_text("盐酸二甲双胍片")
    patient.get_by_test_id("reaction-description").locator("textarea").fill("服药第三天起双踝水肿，按压凹陷")
    patient.get_by_test_id("reaction-submit").click()
    expect(patient.get_by_test_id("order-timeline")).to_contain_text("不良反应", timeout=20_000)

    # The report reaches quality staff, who assess it and record the national ADR report number.
    quality = _staff(new_context, "quality01")
    quality.goto("/console/quality/adverse-reactions")
    row = quality.locator("[data-testid=adr-table] tr", has_text="双踝水肿")
    expect(row).to_be_visible(timeout=20_000)
    row.locator("[data-testid^=adr-open-]").click()
    expect(quality.get_by_test_id("adr-detail-status")).to_have_text("待评价")
    _input(quality, "adr-review-note").fill("二甲双胍所致水肿少见，关联性评价为可能，已电话随访")
    quality.get_by_test_id("adr-review-submit").click()
    expect(quality.get_by_test_id("adr-detail-status")).to_have_text("已评价", timeout=20_000)
    _input(quality, "adr-report-no").fill("ADR-2026-000123")
    quality.get_by_test_id("adr-report-submit").click()
    expect(quality.get_by_test_id("adr-detail-status")).to_have_text("已上报", timeout=20_000)
    expect(quality.get_by_test_id("adr-national-result")).to_contain_text("ADR-2026-000123")


def test_a_refund_asked_before_handover_is_approved_by_the_pharmacy(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    patient = new_context(mobile=True)
    patient_login(patient, "13900100001", data.PATIENT_PASSWORD)  # 张三, for his wife 李梅: 消化内科 K21
    visitors = api_as_page(patient, "GET", "/api/v1/me/visitors")
    wife = next(v for v in visitors if v["relation"] == "spouse")  # type: ignore[union-attr,index]
    _prescribed_and_approved(
        new_context,
        server,
        patient,
        int(wife["id"]),
        "doctor12",
        "消化内科",
        "K21",
        ("奥美拉唑", "D019", "20"),  # type: ignore[index]
    )
    order_id = _open_new_order(patient, "奥美拉唑肠溶胶囊")
    patient.get_by_test_id("order-confirm-button").click()  # the hospital window is the default
    _patient_order_status(patient, "awaiting_payment")
    _pay(patient, order_id)

    patient.get_by_test_id("refund-reason").locator("input").fill("已在社区医院配到同样的药")
    patient.get_by_test_id("refund-request").click()
    _patient_order_status(patient, "refund_requested")

    pharmacy = _staff(new_context, "pharm03")
    pharmacy.goto("/console/pharmacy/orders")
    pharmacy.get_by_test_id("orders-status-refund_requested").click()
    pharmacy.get_by_test_id(f"order-refund-approve-{order_id}").click()
    pharmacy.locator(".el-message-box__input input").fill("患者已在他处取药，同意退款")
    pharmacy.locator(".el-message-box__btns .el-button--primary").click()
    expect(pharmacy.get_by_test_id(f"order-refund-approve-{order_id}")).to_have_count(0, timeout=20_000)

    _patient_order_status(patient, "refunded", reload=True)
    expect(patient.get_by_test_id("order-timeline")).to_contain_text("退款")
