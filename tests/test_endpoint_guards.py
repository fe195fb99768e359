"""Every API operation is guarded: anonymous callers get 401 except on the deliberately public
routes, and a signed-in patient gets 403 (or 404) on every staff-only route. Derived from the live
OpenAPI document, so a new endpoint that forgets its guard fails here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.app import openapi_document
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient

# Routes that answer without a session, by design (login, registration, public directory).
PUBLIC = re.compile(
    r"^/api/v1/(public/.*|auth/(sms-codes|staff/login|staff/register|staff/application-login"
    r"|patient/login|patient/register|patient/reset-password)|payments/notify/(wechat|alipay)"
    r"|integrations/logistics/notify)$"
)
# Routes a session of any kind may reach (patients included).
ANY_SESSION = re.compile(
    r"^/api/v1/(auth/(me|logout|password|step-up|mfa/.*)|me/(profile|consent|visitors.*|messages.*|eligibility-checks|evidence.*|bills.*"
    r"|registrations.*|booking-block.*|consultations.*|records.*|prescriptions.*|drug-orders.*|addresses.*|pickup-pharmacies)|rooms.*|rtc/.*|rx/vocabulary)$"
)
# Own staff profile: an application token or a staff session (PROFILE_EDIT_OWN).
STAFF_ONLY = re.compile(
    r"^/api/v1/(admin/.*|audit/.*|me/staff-profile.*|me/sessions(/.*)?|workstation/.*"
    r"|codes/.*|emr-templates.*|me/emr-templates.*|me/signing-pin|me/signing-certificate|signatures/.*"
    r"|pharmacy/.*|rx-knowledge.*|formulary/.*|quality/.*)$"
)


def _operations() -> list[tuple[str, str]]:
    doc: dict[str, Any] = openapi_document()
    ops = []
    for path, methods in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method in methods:
            ops.append((method.upper(), path))
    return sorted(ops)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


OPERATIONS = _operations()


def test_every_api_route_is_classified() -> None:
    unclassified = [
        f"{m} {p}"
        for m, p in OPERATIONS
        if not (PUBLIC.match(p) or ANY_SESSION.match(p) or STAFF_ONLY.match(p))
    ]
    assert unclassified == [], "classify new routes in tests/test_endpoint_guards.py"


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if not PUBLIC.match(op[1])])
def test_anonymous_callers_get_401(anon: TestClient, method: str, path: str) -> None:
    response = anon.request(method, _concrete(path), json={})
    assert response.status_code == 401, f"{method} {path} -> {response.status_code}"
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if STAFF_ONLY.match(op[1])])
def test_patients_get_403_or_404_on_staff_routes(
    client: TestClient, db: Session, settings: Settings, method: str, path: str
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_patient(db, inst), settings)
    response = client.request(method, _concrete(path), json={})
    assert response.status_code in (403, 404), f"{method} {path} -> {response.status_code}"
