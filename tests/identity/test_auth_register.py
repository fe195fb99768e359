"""Staff self-registration: pending until the qualification review activates or rejects it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity import staff_service, throttle
from ihis.identity.models import RoleAssignment, UserAccount
from ihis.platform.errors import Conflict, NotFound
from ihis.settings import Settings
from tests.factories import make_institution, make_staff
from tests.factories_auth import API, fresh_ip_counts, staff_login  # noqa: F401

REGISTER = f"{API}/auth/staff/register"
PASSWORD = "Register-Passw0rd"


def _body(**over: Any) -> dict[str, Any]:
    body = {
        "username": "new.doctor",
        "display_name": "新医生",
        "phone": "13812345678",
        "password": PASSWORD,
        "profession": "doctor",
    }
    body.update(over)
    return body


def _actor(db: Session, inst, settings: Settings):  # type: ignore[no-untyped-def]
    from ihis.identity.access import Actor, permissions_of

    reviewer = make_staff(db, inst, roles=["operations"])
    roles = frozenset({"operations"})
    return Actor(
        reviewer.id, inst.id, "staff", reviewer.display_name, roles, 0, permissions=permissions_of(roles)
    )


def test_registration_creates_a_pending_account_with_its_role(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    response = anon.post(REGISTER, json=_body(), headers={"X-IHIS-Institution": inst.code})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending_review"
    account = db.get(UserAccount, response.json()["user_id"])
    assert account is not None and account.status == "pending_review" and account.institution_id == inst.id
    assert account.phone_bidx and account.phone == "13812345678"
    roles = list(db.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == account.id)))
    assert roles == ["doctor"]


def test_pending_account_cannot_log_in_until_activated(
    anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    user_id = anon.post(REGISTER, json=_body(), headers={"X-IHIS-Institution": inst.code}).json()["user_id"]
    login = {"username": "new.doctor", "password": PASSWORD}
    refused = anon.post(f"{API}/auth/staff/login", json=login, headers={"X-IHIS-Institution": inst.code})
    assert refused.status_code == 401 and refused.json()["code"] == "login_failed"
    staff_service.activate_account(db, _actor(db, inst, settings), user_id)
    db.commit()
    assert staff_login(anon, inst, "new.doctor", PASSWORD, None)["next"] == "enrol_mfa"


def test_rejected_account_never_logs_in(db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    pending = make_staff(db, inst, status="pending_review")
    actor = _actor(db, inst, settings)
    assert staff_service.reject_account(db, actor, pending.id, "执业证书不符").status == "rejected"
    with pytest.raises(Conflict):
        staff_service.activate_account(db, actor, pending.id)


def test_activation_is_scoped_to_the_reviewers_institution(db: Session, settings: Settings) -> None:
    inst, other = make_institution(db), make_institution(db)
    pending = make_staff(db, other, status="pending_review")
    with pytest.raises(NotFound):
        staff_service.activate_account(db, _actor(db, inst, settings), pending.id)


def test_weak_password_and_bad_fields_are_named(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    headers = {"X-IHIS-Institution": inst.code}
    weak = anon.post(REGISTER, json=_body(password="short"), headers=headers)
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "body.password"
    bad = anon.post(REGISTER, json=_body(phone="12345", profession="surgeon", username="x"), headers=headers)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.phone", "body.profession", "body.username"}


def test_taken_username_or_phone_is_a_conflict(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    headers = {"X-IHIS-Institution": inst.code}
    assert anon.post(REGISTER, json=_body(), headers=headers).status_code == 201
    same_name = anon.post(REGISTER, json=_body(phone="13812345679"), headers=headers)
    assert same_name.status_code == 409 and same_name.json()["errors"][0]["field"] == "body.username"
    same_phone = anon.post(REGISTER, json=_body(username="other.doctor"), headers=headers)
    assert same_phone.status_code == 409 and same_phone.json()["errors"][0]["field"] == "body.phone"
    # another institution is a separate namespace
    other = make_institution(db)
    assert anon.post(REGISTER, json=_body(), headers={"X-IHIS-Institution": other.code}).status_code == 201


def test_registrations_from_one_address_are_limited(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    headers = {"X-IHIS-Institution": inst.code}
    for n in range(throttle.STAFF_REGISTRATIONS_PER_IP_PER_HOUR):
        anon.post(REGISTER, json=_body(password="short", username=f"user{n}"), headers=headers)
    limited = anon.post(REGISTER, json=_body(), headers=headers)
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_registration_returns_an_application_token_that_opens_only_the_own_profile(
    anon: TestClient, db: Session
) -> None:
    inst = make_institution(db)
    headers = {"X-IHIS-Institution": inst.code}
    body = anon.post(REGISTER, json=_body(), headers=headers).json()
    bearer = {**headers, "Authorization": f"Bearer {body['application_token']}"}
    # Authenticated as the applicant: no profile written yet (404), not anonymous (401).
    assert anon.get(f"{API}/me/staff-profile", headers=bearer).status_code == 404
    assert anon.get(f"{API}/me/staff-profile").status_code == 401
    # The application session is not an ordinary session.
    assert anon.get(f"{API}/auth/me", headers=bearer).status_code == 401
    assert anon.get(f"{API}/admin/campuses", headers=bearer).status_code == 401


def test_pending_applicant_gets_a_new_application_token_with_the_right_password(
    anon: TestClient, db: Session
) -> None:
    inst = make_institution(db)
    headers = {"X-IHIS-Institution": inst.code}
    anon.post(REGISTER, json=_body(), headers=headers)
    url = f"{API}/auth/staff/application-login"
    wrong = anon.post(url, json={"username": "new.doctor", "password": "Wrong-Passw0rd!"}, headers=headers)
    assert wrong.status_code == 401 and wrong.json()["code"] == "login_failed"
    again = anon.post(url, json={"username": "new.doctor", "password": PASSWORD}, headers=headers)
    assert again.status_code == 200, again.text
    bearer = {**headers, "Authorization": f"Bearer {again.json()['application_token']}"}
    assert anon.get(f"{API}/me/staff-profile", headers=bearer).status_code == 404  # signed in, no profile yet


def test_active_staff_cannot_use_the_application_login(anon: TestClient, db: Session) -> None:
    inst = make_institution(db)
    make_staff(db, inst, roles=["doctor"], username="active.doc")
    db.commit()
    from tests.factories import STAFF_PASSWORD

    r = anon.post(
        f"{API}/auth/staff/application-login",
        json={"username": "active.doc", "password": STAFF_PASSWORD},
        headers={"X-IHIS-Institution": inst.code},
    )
    assert r.status_code == 401
    missing = anon.post(
        f"{API}/auth/staff/application-login",
        json={"username": "x"},
        headers={"X-IHIS-Institution": inst.code},
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body.password"
