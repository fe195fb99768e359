"""Sessions: idle and absolute expiry, logout, revocation, CSRF for cookies, half-open staff sessions."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.identity import sessions
from ihis.settings import Settings
from tests.factories import STAFF_PASSWORD, login_as, make_institution, make_patient, make_staff
from tests.factories_auth import (
    API,
    age_session,
    current_session_id,
    enrol_totp,
    fresh_ip_counts,  # noqa: F401
    session_row,
    staff_login,
)

ME = f"{API}/auth/me"
STAFF_LIST = f"{API}/admin/staff"


def test_session_idle_for_31_minutes_is_rejected(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    issued = login_as(client, db, staff, settings)
    assert client.get(ME).status_code == 200
    age_session(db, issued.session_id, idle_minutes=settings.session_idle_minutes + 1)
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_activity_keeps_a_session_alive(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    issued = login_as(client, db, staff, settings)
    age_session(db, issued.session_id, idle_minutes=settings.session_idle_minutes - 1)
    assert client.get(ME).status_code == 200  # touches last_seen_at
    age_session(db, issued.session_id, idle_minutes=settings.session_idle_minutes - 1)
    assert client.get(ME).status_code == 200


def test_session_past_its_absolute_lifetime_is_rejected_even_if_active(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    issued = login_as(client, db, staff, settings)
    age_session(db, issued.session_id, created_hours=settings.session_absolute_hours)
    assert client.get(ME).status_code == 401


def test_logout_revokes_the_session_and_clears_cookies(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    issued = login_as(client, db, staff, settings)
    response = client.post(f"{API}/auth/logout")
    assert response.status_code == 204
    cleared = response.headers.get_list("set-cookie")
    assert any(c.startswith(f"{sessions.SESSION_COOKIE}=") and "Max-Age=0" in c for c in cleared)
    assert session_row(db, issued.session_id).revoked_reason == "logout"
    client.cookies.set(sessions.SESSION_COOKIE, issued.token)  # replaying the old token
    assert client.get(ME).status_code == 401


def test_logout_needs_a_session(anon: TestClient) -> None:
    assert anon.post(f"{API}/auth/logout").status_code == 401


def test_revoked_session_is_401(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    issued = login_as(client, db, staff, settings)
    sessions.revoke(db, issued.session_id, "test")
    db.commit()
    assert client.get(ME).status_code == 401


def test_unknown_token_is_401(anon: TestClient) -> None:
    assert anon.get(ME, headers={"Authorization": "Bearer not-a-real-token"}).status_code == 401
    anon.cookies.set(sessions.SESSION_COOKIE, "not-a-real-token")
    assert anon.get(ME).status_code == 401


def test_cookie_session_unsafe_request_needs_the_csrf_header(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings)
    csrf = client.headers.pop("X-CSRF-Token")
    missing = client.post(f"{API}/auth/logout")
    assert missing.status_code == 403
    assert missing.json()["reason"] == "csrf"
    wrong = client.post(f"{API}/auth/logout", headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert client.get(ME).status_code == 200  # safe methods need no token
    assert client.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204


def test_bearer_session_needs_no_csrf_token(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings, bearer=True)
    assert client.post(f"{API}/auth/logout").status_code == 204


def test_half_open_session_cannot_reach_a_normal_endpoint(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    admin = make_staff(db, inst, roles=["it_admin"])
    enrol_totp(db, admin)
    body = staff_login(client, inst, admin.username or "", STAFF_PASSWORD, None)
    assert body["next"] == "mfa"
    response = client.get(STAFF_LIST)
    assert response.status_code == 401
    assert response.json()["next"] == "mfa"
    me = client.get(ME)
    assert me.status_code == 200
    assert me.json()["mfa"] == {
        "required": True,
        "enrolled": True,
        "verified": False,
        "recovery_codes_remaining": 0,
    }


def test_full_staff_login_opens_the_console(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    admin = make_staff(db, inst, roles=["it_admin"])
    secret = enrol_totp(db, admin)
    body = staff_login(client, inst, admin.username or "", STAFF_PASSWORD, secret)
    assert body["next"] == "done"
    assert client.get(STAFF_LIST).status_code == 200
    assert session_row(db, current_session_id(db, admin.id)).mfa_verified is True


def test_me_describes_a_staff_member(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst, roles=["doctor"], display_name="王医生", staff_no="D0001")
    enrol_totp(db, staff)
    login_as(client, db, staff, settings)
    body = client.get(ME).json()
    assert body["user_id"] == staff.id and body["kind"] == "staff"
    assert body["roles"] == ["doctor"]
    assert "org.read" in body["permissions"]
    assert body["watermark"] == "王医生 D0001"
    assert body["institution"] == {"id": inst.id, "code": inst.code, "name": inst.name}
    assert body["idle_timeout_seconds"] == settings.session_idle_minutes * 60
    assert body["next"] == "done" and body["mfa"]["verified"] is True


def test_me_describes_a_patient(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, display_name="李四")
    login_as(client, db, patient, settings)
    body = client.get(ME).json()
    assert body["kind"] == "patient" and body["watermark"] == "李四"
    assert body["mfa"]["required"] is False and body["next"] == "done"


def test_me_needs_a_session(anon: TestClient) -> None:
    assert anon.get(ME).status_code == 401


def test_disabled_account_loses_its_live_session(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings)
    staff.status = "disabled"
    db.commit()
    assert client.get(ME).status_code == 401
