"""Issue 3's booking journeys in the browser (patient app + console), on the demo hospital:

- an eligible patient books, pays at the sandbox cashier, sees the confirmed registration and the message;
- an ineligible patient sees why, in plain words;
- operations stop a session: the patient sees the cancellation, the refund and the message;
- a patient cancels a paid registration and sees the refund.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from ihis.demo import data
from tests.e2e.support import api_as_page, console_login, demo_staff, patient_login

ZHANG_SAN = "13900100001"  # eligible in 心血管内科 (I10, 30 days ago)
LI_SI = "13900100002"  # 心血管内科 visit 200 days ago: not eligible
WANG_FANG = "13900100003"  # eligible in 皮肤科
ZHOU_QIANG = "13900100006"  # eligible in 内分泌科 and 心血管内科


def _department_id(server: str, name: str) -> int:
    departments = httpx.get(f"{server}/api/v1/public/departments").json()
    items = departments["items"] if isinstance(departments, dict) else departments
    return int(next(d["id"] for d in items if d["name"] == name))


def _open_session(server: str, department: str, *, skip: int = 0) -> dict[str, Any]:
    """An untagged 图文 session of the department starting in more than two hours, with slots left."""
    dept = _department_id(server, department)
    page = httpx.get(
        f"{server}/api/v1/public/sessions", params={"department_id": dept, "mode": "text", "limit": 100}
    ).json()
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    candidates = [
        s
        for s in page["items"]
        if not s["disease_tags"] and s["remaining"] > 0 and dt.datetime.fromisoformat(s["start_at"]) > soon
    ]
    assert len(candidates) > skip, f"no open session in {department}"
    return candidates[skip]  # type: ignore[no-any-return]


def _self_visitor(page: Page) -> int:
    visitors = api_as_page(page, "GET", "/api/v1/me/visitors")
    assert isinstance(visitors, list)
    return int(next(v["id"] for v in visitors if v["relation"] == "self"))


def _refund_settles(page: Page) -> None:
    """The channel settles the refund after commit (submit job, then its notify): reload until then."""
    status = page.get_by_test_id("refund-status")
    deadline = time.monotonic() + 60
    while status.get_attribute("data-status") != "succeeded" and time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        page.reload()
        expect(status).to_be_visible()
    expect(status).to_have_attribute("data-status", "succeeded")


def _book_and_pay_by_api(page: Page, session: dict[str, Any]) -> dict[str, Any]:
    """Setup of a journey: check, book and pay as the patient's own browser would, at the cashier."""
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


def test_an_eligible_patient_books_pays_and_sees_the_confirmed_registration_and_message(
    new_context, server: str
) -> None:  # type: ignore[no-untyped-def]
    session = _open_session(server, "心血管内科")
    patient = new_context(mobile=True)
    patient_login(patient, ZHANG_SAN, data.PATIENT_PASSWORD)

    patient.goto(f"/app/book/{session['id']}?doctor={session['doctor_id']}")
    expect(patient.get_by_test_id("booking-session")).to_contain_text(session["doctor_name"])
    patient.get_by_test_id("visitor-options").get_by_role("radio").filter(has_text="张").first.click()
    patient.get_by_test_id("eligibility-check").click()
    expect(patient.get_by_test_id("eligibility-eligible")).to_be_visible()
    expect(patient.get_by_test_id("eligibility-evidence-item").first).to_contain_text("高血压")
    patient.get_by_test_id("booking-confirm").click()
    expect(patient.get_by_test_id("booking-created")).to_be_visible()

    patient.get_by_test_id("pay-channel-wechat").click()
    patient.get_by_test_id("pay-submit").click()
    patient.get_by_test_id("cashier-pay").click()  # the sandbox WeChat Pay cashier
    expect(patient).to_have_url(re.compile(r"/app/bills/\d+"))
    expect(patient.get_by_test_id("bill-status")).to_have_attribute("data-status", "paid", timeout=30_000)
    patient.get_by_test_id("bill-registration-link").click()
    expect(patient.get_by_test_id("registration-status")).to_have_attribute("data-status", "confirmed")
    expect(patient.get_by_test_id("registration-queue-number")).to_contain_text(re.compile(r"\d+"))

    patient.goto("/app/")  # the tab bar (with the unread badge) is on the top-level pages
    expect(patient.get_by_test_id("messages-unread-badge")).to_be_visible()
    patient.get_by_test_id("messages-tab").click()
    confirmed = patient.locator("[data-testid=message-item][data-event=booking_confirmed]")
    expect(confirmed.first).to_be_visible()
    expect(confirmed.first).to_contain_text("预约成功")
    confirmed.first.click()
    expect(patient.get_by_test_id("registration-status")).to_have_attribute("data-status", "confirmed")


def test_an_ineligible_patient_sees_why(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    session = _open_session(server, "心血管内科", skip=1)
    patient = new_context(mobile=True)
    patient_login(patient, LI_SI, data.PATIENT_PASSWORD)

    patient.goto(f"/app/book/{session['id']}?doctor={session['doctor_id']}")
    patient.get_by_test_id("visitor-options").get_by_role("radio").filter(has_text="李").first.click()
    patient.get_by_test_id("eligibility-check").click()
    expect(patient.get_by_test_id("eligibility-ineligible")).to_be_visible()
    reason = patient.get_by_test_id("eligibility-reason").first
    expect(reason).to_have_attribute("data-code", "outside_lookback_window")
    expect(reason).to_contain_text("已超过 180 天")
    expect(patient.get_by_test_id("booking-confirm")).to_be_disabled()


def test_operations_stop_a_session_and_the_patient_sees_the_refund_and_the_message(
    new_context, server: str
) -> None:  # type: ignore[no-untyped-def]
    session = _open_session(server, "皮肤科")
    patient = new_context(mobile=True)
    patient_login(patient, WANG_FANG, data.PATIENT_PASSWORD)
    held = _book_and_pay_by_api(patient, session)

    ops = new_context()
    ops_user = demo_staff("ops01")
    console_login(ops, ops_user.username, data.STAFF_PASSWORD, ops_user.totp_secret)
    ops.goto(f"/console/scheduling/sessions?date={session['service_date']}")
    ops.get_by_test_id(f"session-stop-{session['id']}").click()
    ops.get_by_test_id("stop-reason").fill("医生临时参加抢救任务")
    ops.get_by_test_id("stop-confirm").click()
    expect(ops.get_by_test_id(f"session-status-{session['id']}")).to_have_attribute("data-status", "stopped")

    patient.goto(f"/app/registrations/{held['id']}")
    expect(patient.get_by_test_id("registration-status")).to_have_attribute(
        "data-status", "cancelled", timeout=30_000
    )
    expect(patient.get_by_test_id("registration-cancel-reason")).to_have_attribute(
        "data-kind", "session_stopped"
    )
    expect(patient.get_by_test_id("registration-cancel-reason")).to_contain_text("抢救")
    expect(patient.get_by_test_id("refund-row")).to_have_count(1)
    _refund_settles(patient)
    patient.goto("/app/messages")
    expect(patient.locator("[data-testid=message-item][data-event=session_stopped]").first).to_be_visible()


def test_a_patient_cancels_and_is_refunded(new_context, server: str) -> None:  # type: ignore[no-untyped-def]
    session = _open_session(server, "内分泌科")
    patient = new_context(mobile=True)
    patient_login(patient, ZHOU_QIANG, data.PATIENT_PASSWORD)
    held = _book_and_pay_by_api(patient, session)

    patient.goto(f"/app/registrations/{held['id']}")
    expect(patient.get_by_test_id("registration-status")).to_have_attribute("data-status", "confirmed")
    patient.get_by_test_id("registration-cancel").click()
    patient.get_by_test_id("cancel-reason").fill("行程有变")
    patient.get_by_test_id("cancel-confirm").click()
    expect(patient.get_by_test_id("registration-status")).to_have_attribute("data-status", "cancelled")
    expect(patient.get_by_test_id("refund-row")).to_have_count(1)
    expect(patient.get_by_test_id("refund-expected-arrival")).not_to_be_empty()
    _refund_settles(patient)
    expect(patient.get_by_test_id("registration-bill-status")).to_contain_text(
        re.compile("退款|refund", re.I)
    )
