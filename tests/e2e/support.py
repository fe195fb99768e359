"""Helpers for the browser journeys: TOTP codes, console login, reading sandbox SMS codes."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from ihis.demo import data
from tests.factories_auth import totp as totp_code  # codes are single use: one step tracker


def demo_staff(username: str) -> data.Staff:
    return next(s for s in data.ALL_STAFF if s.username == username)


def console_login(page: Page, username: str, password: str, totp_secret: str) -> None:
    """Password + TOTP through the console's login screens, ending on the console home."""
    page.goto("/console/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("totp-code").fill(totp_code(totp_secret))
    page.get_by_test_id("totp-submit").click()
    expect(page.get_by_test_id("side-menu")).to_be_visible()


def read_sms_code(page: Page, phone: str) -> str:
    """Open the sandbox SMS outbox in the console (operations/IT) and read the newest code."""
    page.get_by_test_id("menu-sandbox-sms").click()
    page.get_by_test_id("sms-phone").fill(phone)
    cell = page.get_by_test_id("sms-code").first
    # The message is sent after commit by the job consumer: search again until it has arrived.
    deadline = time.monotonic() + 20
    while True:
        page.get_by_test_id("sms-search").click()
        try:
            expect(cell).to_have_text(re.compile(r"^\s*\d{6}\s*$"), timeout=1000)
            return cell.inner_text().strip()
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def patient_login(page: Page, phone: str, password: str) -> None:
    """Password login in the patient app; signs the informed consent when the app asks for it."""
    page.goto("/app/login")
    page.get_by_test_id("login-tab-password").click()
    page.get_by_test_id("login-phone").fill(phone)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r"/app/(consent|$|\?)"))
    if "/app/consent" in page.url:
        page.get_by_test_id("consent-agree").click()
        page.get_by_test_id("consent-sign").click()
        expect(page.get_by_test_id("consent-signed")).to_be_visible()


def api_as_page(
    page: Page, method: str, path: str, body: dict[str, object] | None = None
) -> dict[str, object]:
    """Call the API with the page's session cookie and CSRF token (setup steps of a journey)."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    headers = {"X-CSRF-Token": cookies.get("ihis_csrf", "")}
    response = page.request.fetch(path, method=method, data=body, headers=headers)
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json()  # type: ignore[no-any-return]
