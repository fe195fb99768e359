"""医保 on the visitor screen: the demo's 张三 is bound (scheme and masked number shown); he binds his
wife 李梅 through the sandbox platform's person query, then unbinds her."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from ihis.demo import data
from tests.e2e.support import patient_login


def test_a_patient_sees_the_binding_and_binds_and_unbinds_a_family_member(new_context) -> None:  # type: ignore[no-untyped-def]
    patient = new_context(mobile=True)
    patient_login(patient, "13900100001", data.PATIENT_PASSWORD)  # 张三 (bound by the demo)
    patient.goto("/app/visitors")
    zhang = patient.get_by_test_id("visitor-item").filter(has_text="张*").first
    expect(zhang.get_by_test_id("visitor-insurance-bound")).to_be_visible()
    expect(zhang.get_by_test_id("visitor-insurance-type")).to_have_text("职工基本医疗保险")
    expect(zhang.get_by_test_id("visitor-insurance-number")).to_have_text(re.compile(r"^110\*{13}\d{4}$"))

    wife = patient.get_by_test_id("visitor-item").filter(has_text="李*")
    expect(wife.get_by_test_id("visitor-insurance-none")).to_be_visible()
    wife.get_by_role("button", name="绑定医保").click()
    patient.locator(".van-dialog__confirm").click()
    expect(wife.get_by_test_id("visitor-insurance-bound")).to_be_visible()
    expect(wife.get_by_test_id("visitor-insurance-number")).to_have_text(re.compile(r"^110\*{13}\d{4}$"))

    wife.get_by_role("button", name="解绑").click()
    patient.locator(".van-dialog__confirm").click()
    expect(wife.get_by_test_id("visitor-insurance-none")).to_be_visible()
