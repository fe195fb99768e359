"""Idle timeout (DOMAIN §10: 30 minutes): an idle console and an idle patient app end the session
and go back to login. The browser's clock is fast-forwarded instead of waiting half an hour."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from ihis.demo import data
from tests.e2e.support import console_login, demo_staff


def test_idle_console_returns_to_login_and_the_session_is_gone(new_context) -> None:  # type: ignore[no-untyped-def]
    page = new_context()
    page.clock.install()
    user = demo_staff("finance01")
    console_login(page, user.username, data.STAFF_PASSWORD, user.totp_secret)
    page.clock.fast_forward("29:00")
    expect(page.get_by_test_id("side-menu")).to_be_visible()  # not yet
    page.clock.fast_forward("02:00")
    expect(page).to_have_url(re.compile(r"/console/login"))
    # The logout reached the server: the old cookie no longer opens the API.
    assert page.request.get("/api/v1/auth/me").status == 401


def test_idle_patient_app_returns_to_login(new_context) -> None:  # type: ignore[no-untyped-def]
    page = new_context(mobile=True)
    page.clock.install()
    patient = data.PATIENTS[1].owner
    page.goto("/app/login")
    page.get_by_test_id("login-tab-password").click()
    page.get_by_test_id("login-phone").fill(patient.phone)
    page.get_by_test_id("login-password").fill(data.PATIENT_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("watermark")).to_have_attribute("data-watermark", patient.name)
    page.clock.fast_forward("31:00")
    expect(page).to_have_url(re.compile(r"/app/login"))
