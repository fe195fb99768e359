"""A patient registers with an SMS code read from the sandbox outbox, signs consent, adds a family
member (rejected for a wrong ID/name pair, accepted for the right one)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from ihis.demo import data
from tests.e2e.support import console_login, demo_staff, read_sms_code

NEW_PHONE = "13900100088"


def test_patient_registers_signs_consent_and_adds_a_verified_family_member(new_context) -> None:  # type: ignore[no-untyped-def]
    patient = new_context(mobile=True)
    ops = new_context()
    ops_user = demo_staff("ops01")
    console_login(ops, ops_user.username, data.STAFF_PASSWORD, ops_user.totp_secret)

    # Register with the SMS code the sandbox provider received.
    patient.goto("/app/register")
    patient.get_by_test_id("register-phone").fill(NEW_PHONE)
    patient.get_by_test_id("register-send-code").click()
    code = read_sms_code(ops, NEW_PHONE)
    patient.get_by_test_id("register-code").fill(code)
    patient.get_by_test_id("register-password").fill("Patient-Pass2026")
    patient.get_by_test_id("register-submit").click()

    # No consent signed yet: the app asks for it first.
    expect(patient).to_have_url(re.compile(r"/app/consent"))
    expect(patient.get_by_text(data.CONSENT_TITLE).first).to_be_visible()
    patient.get_by_test_id("consent-agree").click()
    patient.get_by_test_id("consent-sign").click()
    expect(patient.get_by_test_id("consent-signed")).to_contain_text(data.CONSENT_VERSION)

    # A family member whose name and ID number do not belong together is refused...
    child = next(p for p in data.EXTRA_IDENTITIES if p.name == "王小明")
    someone_else = next(p for p in data.EXTRA_IDENTITIES if p.name == "刘奶奶")
    patient.goto("/app/visitors/new")
    patient.get_by_test_id("visitor-name").fill(child.name)
    patient.get_by_test_id("visitor-id-number").fill(someone_else.id_number)
    patient.get_by_test_id("visitor-phone").fill(child.phone)
    patient.get_by_test_id("visitor-relation").select_option("child")
    patient.get_by_test_id("visitor-submit").click()
    expect(patient.get_by_test_id("visitor-error")).to_be_visible()
    expect(patient).to_have_url(re.compile(r"/app/visitors/new"))

    # ...and accepted with the right pair; the list shows it masked.
    patient.get_by_test_id("visitor-id-number").fill(child.id_number)
    patient.get_by_test_id("visitor-submit").click()
    expect(patient).to_have_url(re.compile(r"/app/visitors$"))
    item = patient.get_by_test_id("visitor-item").filter(has_text="王*")
    expect(item).to_be_visible()
    expect(item).not_to_contain_text(child.id_number)
    # The patient's own name is the watermark on patient screens.
    expect(patient.get_by_test_id("watermark")).to_have_count(1)
