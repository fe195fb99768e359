"""An admin creates a doctor and assigns a role (with step-up); the doctor changes the initial
password, enrols TOTP and logs in; the auditor finds those actions in the audit log."""

from __future__ import annotations

import pyotp
from playwright.sync_api import expect

from ihis.demo import data
from tests.e2e.support import console_login, demo_staff, totp_code

NEW_DOCTOR = "dr.e2e"


def test_admin_creates_doctor_doctor_enrols_totp_auditor_sees_it(new_context) -> None:  # type: ignore[no-untyped-def]
    admin = new_context()
    admin_user = demo_staff("admin")
    console_login(admin, admin_user.username, data.STAFF_PASSWORD, admin_user.totp_secret)
    expect(admin.get_by_test_id("watermark")).to_have_attribute(
        "data-watermark", f"{admin_user.display_name} {admin_user.staff_no}"
    )

    # Create the account (no role yet); the one-time initial password is shown once.
    admin.get_by_test_id("menu-staff").click()
    admin.get_by_test_id("staff-create").click()
    admin.get_by_test_id("staff-username").fill(NEW_DOCTOR)
    admin.get_by_test_id("staff-display-name").fill("新来的医生")
    admin.get_by_test_id("staff-staff-no").fill("D9001")
    admin.get_by_test_id("staff-phone").fill("13900109001")
    admin.get_by_test_id("staff-submit").click()
    initial_password = admin.get_by_test_id("staff-initial-password").inner_text().strip()
    assert len(initial_password) >= 12
    admin.get_by_test_id("staff-created-close").click()

    # Assign the doctor role: a sensitive action, so the console asks to re-authenticate.
    admin.get_by_test_id(f"staff-edit-roles-{NEW_DOCTOR}").click()
    admin.get_by_test_id("roles-select").click()
    admin.get_by_test_id("roles-select-option-doctor").click()
    admin.keyboard.press("Escape")
    admin.get_by_test_id("roles-save").click()
    # A second factor passed within the step-up window counts as re-authentication; otherwise the
    # console asks for password + a fresh TOTP code and retries.
    stepup = admin.get_by_test_id("stepup-password")
    row = admin.get_by_test_id(f"staff-row-{NEW_DOCTOR}")
    expect(stepup.or_(row.filter(has_text="医生"))).to_be_visible()
    if stepup.is_visible():
        stepup.fill(data.STAFF_PASSWORD)
        admin.get_by_test_id("stepup-code").fill(totp_code(admin_user.totp_secret))
        admin.get_by_test_id("stepup-submit").click()
    expect(row).to_contain_text("医生")

    # The doctor's first login: change the initial password, enrol TOTP, keep recovery codes.
    doctor = new_context()
    doctor.goto("/console/login")
    doctor.get_by_test_id("login-username").fill(NEW_DOCTOR)
    doctor.get_by_test_id("login-password").fill(initial_password)
    doctor.get_by_test_id("login-submit").click()
    new_password = "Doctor-New-Passw0rd"
    doctor.get_by_test_id("new-password").fill(new_password)
    doctor.get_by_test_id("new-password-confirm").fill(new_password)
    doctor.get_by_test_id("password-submit").click()
    secret = doctor.get_by_test_id("enrol-secret").inner_text().strip().replace(" ", "")
    doctor.get_by_test_id("enrol-code").fill(totp_code(secret))
    doctor.get_by_test_id("enrol-confirm").click()
    expect(doctor.get_by_test_id("recovery-code")).to_have_count(10)
    doctor.get_by_test_id("recovery-saved").click()
    expect(doctor.get_by_test_id("header-name")).to_have_text("新来的医生")

    # Log out and back in with password + TOTP.
    doctor.get_by_test_id("logout").click()
    console_login(doctor, NEW_DOCTOR, new_password, secret)
    assert pyotp.TOTP(secret).now().isdigit()

    # The auditor finds the account creation, the role change and the doctor's enrolment.
    auditor = new_context()
    auditor_user = demo_staff("auditor01")
    console_login(auditor, auditor_user.username, data.STAFF_PASSWORD, auditor_user.totp_secret)
    auditor.get_by_test_id("menu-audit").click()
    for action in ("staff.create", "staff.role_change", "auth.mfa_enrol_confirm"):
        auditor.get_by_test_id("audit-action").fill(action)
        auditor.get_by_test_id("audit-search").click()
        expect(auditor.get_by_test_id("audit-row").first).to_contain_text(action)
    expect(auditor.get_by_test_id("audit-chain")).to_have_attribute("data-state", "ok")
    # Separation of duties: the auditor has no staff administration.
    expect(auditor.get_by_test_id("menu-staff")).to_have_count(0)
