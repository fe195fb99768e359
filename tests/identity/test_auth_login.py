"""Staff password sign-in: next steps, generic failures, lockout, per-IP throttling."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity import throttle
from ihis.identity.models import AuthSession, LoginFailure, UserAccount
from ihis.settings import Settings
from tests.factories import STAFF_PASSWORD, make_institution, make_staff
from tests.factories_auth import (
    API,
    age_login_failures,
    enrol_totp,
    fresh_ip_counts,  # noqa: F401
    without_request_id,
)

LOGIN = f"{API}/auth/staff/login"


def _login(client: TestClient, code: str, username: str, password: str, kind: str = "web") -> httpx.Response:
    return client.post(
        LOGIN,
        json={"username": username, "password": password, "client": kind},
        headers={"X-IHIS-Institution": code},
    )


def test_web_login_sets_cookies_and_asks_for_the_second_factor(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    enrol_totp(db, staff)
    response = _login(client, inst.code, staff.username or "", STAFF_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["next"] == "mfa"
    assert body["token"] is None
    assert body["idle_timeout_seconds"] == 30 * 60
    set_cookie = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookie if c.startswith("ihis_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert any(c.startswith("ihis_csrf=") and "HttpOnly" not in c for c in set_cookie)
    row = db.scalar(select(AuthSession).where(AuthSession.user_id == staff.id))
    assert row is not None and row.mfa_verified is False and row.channel == "cookie"


def test_api_login_returns_a_bearer_token_and_no_cookie(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    response = _login(client, inst.code, staff.username or "", STAFF_PASSWORD, kind="api")
    assert response.status_code == 200
    token = response.json()["token"]
    assert token and not response.headers.get_list("set-cookie")
    me = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["next"] == "enrol_mfa"


def test_first_login_next_step_is_the_password_change(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst, must_change_password=True)
    assert _login(client, inst.code, staff.username or "", STAFF_PASSWORD).json()["next"] == "change_password"


def test_institution_may_come_from_the_body_and_usernames_ignore_case(
    client: TestClient, db: Session
) -> None:
    inst = make_institution(db)
    make_staff(db, inst, username="wang.li")
    response = client.post(
        LOGIN, json={"institution_code": inst.code, "username": " Wang.Li ", "password": STAFF_PASSWORD}
    )
    assert response.status_code == 200, response.text


def test_unknown_institution_is_404(client: TestClient) -> None:
    response = _login(client, "NO-SUCH-HOSP", "someone", STAFF_PASSWORD)
    assert response.status_code == 404


def test_missing_fields_are_named(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    response = client.post(
        LOGIN, json={"password": "x", "client": "phone"}, headers={"X-IHIS-Institution": inst.code}
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"body.username", "body.client"} <= fields


def test_unknown_user_wrong_password_disabled_and_pending_get_the_same_answer(
    client: TestClient, db: Session
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    disabled = make_staff(db, inst, status="disabled")
    pending = make_staff(db, inst, status="pending_review")
    answers = [
        _login(client, inst.code, "no-such-user", STAFF_PASSWORD),
        _login(client, inst.code, staff.username or "", "Wrong-Passw0rd!"),
        _login(client, inst.code, disabled.username or "", STAFF_PASSWORD),
        _login(client, inst.code, pending.username or "", STAFF_PASSWORD),
    ]
    assert {a.status_code for a in answers} == {401}
    bodies = [without_request_id(a.json()) for a in answers]
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["code"] == "login_failed"
    assert not db.scalar(select(AuthSession.id).where(AuthSession.user_id.in_([disabled.id, pending.id])))


def test_five_failures_lock_the_account_with_retry_after_even_for_the_right_password(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    for _ in range(settings.lockout_threshold):
        assert _login(client, inst.code, staff.username or "", "Wrong-Passw0rd!").status_code == 401
    locked = _login(client, inst.code, staff.username or "", STAFF_PASSWORD)
    assert locked.status_code == 429
    retry_after = int(locked.headers["Retry-After"])
    assert 0 < retry_after <= settings.lockout_minutes * 60 + 1
    assert locked.json()["code"] == "rate_limited"


def test_lockout_answer_is_the_same_for_an_unknown_username(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    answers = []
    for username in (staff.username or "", "ghost-user"):
        for _ in range(settings.lockout_threshold):
            _login(client, inst.code, username, "Wrong-Passw0rd!")
        answers.append(_login(client, inst.code, username, "Wrong-Passw0rd!"))
    assert [a.status_code for a in answers] == [429, 429]
    first, second = (without_request_id(a.json()) for a in answers)
    first.pop("retry_after"), second.pop("retry_after")
    assert first == second


def test_failures_survive_the_rolled_back_request(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    _login(client, inst.code, staff.username or "", "Wrong-Passw0rd!")
    principal = throttle.principal_key(inst.id, "staff", staff.username or "")
    assert db.scalar(select(LoginFailure.id).where(LoginFailure.principal == principal)) is not None


def test_lock_lifts_when_the_failures_age_past_the_window(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    for _ in range(settings.lockout_threshold):
        _login(client, inst.code, staff.username or "", "Wrong-Passw0rd!")
    assert _login(client, inst.code, staff.username or "", STAFF_PASSWORD).status_code == 429
    principal = throttle.principal_key(inst.id, "staff", staff.username or "")
    age_login_failures(db, principal, settings.lockout_window_minutes + 1)
    assert _login(client, inst.code, staff.username or "", STAFF_PASSWORD).status_code == 200


def test_successful_login_clears_earlier_failures(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    for _ in range(settings.lockout_threshold - 1):
        _login(client, inst.code, staff.username or "", "Wrong-Passw0rd!")
    assert _login(client, inst.code, staff.username or "", STAFF_PASSWORD).status_code == 200
    for _ in range(settings.lockout_threshold - 1):
        _login(client, inst.code, staff.username or "", "Wrong-Passw0rd!")
    assert _login(client, inst.code, staff.username or "", STAFF_PASSWORD).status_code == 200


def test_one_address_is_throttled_after_its_failure_limit(
    db: Session,
    settings: Settings,
    database,
    engine,  # type: ignore[no-untyped-def]
) -> None:
    from ihis.app import create_app

    tight = settings.model_copy(update={"ip_login_limit_per_minute": 3})
    database.settings = tight
    inst = make_institution(db)
    staff = make_staff(db, inst)
    with TestClient(create_app(tight, database=database)) as client:
        for n in range(3):  # three different usernames: no single principal is locked
            assert _login(client, inst.code, f"nobody{n}", "Wrong-Passw0rd!").status_code == 401
        throttled = _login(client, inst.code, staff.username or "", STAFF_PASSWORD)
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["Retry-After"]) <= 61


def test_login_records_last_login_time(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    _login(client, inst.code, staff.username or "", STAFF_PASSWORD)
    db.expire_all()
    account = db.get(UserAccount, staff.id)
    assert account is not None and account.last_login_at is not None
