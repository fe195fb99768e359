"""The staff second factor: TOTP enrolment and verification, recovery codes, step-up."""

from __future__ import annotations

import base64

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity import throttle
from ihis.identity.models import RecoveryCode, UserAccount
from ihis.settings import Settings
from tests.factories import STAFF_PASSWORD, login_as, make_institution, make_patient, make_staff
from tests.factories_auth import (
    API,
    current_session_id,
    enrol_totp,
    fresh_ip_counts,  # noqa: F401
    grant_step_up,
    session_row,
    staff_login,
    totp,
)

ENROL = f"{API}/auth/mfa/enrol"
CONFIRM = f"{API}/auth/mfa/enrol/confirm"
VERIFY = f"{API}/auth/mfa/verify"
STEP_UP = f"{API}/auth/step-up"


def _enrol(client: TestClient) -> tuple[str, list[str]]:
    started = client.post(ENROL)
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = client.post(CONFIRM, json={"code": totp(secret)})
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def _wrong_code(secret: str) -> str:
    """A six-digit code that is not valid now (nor one step either side)."""
    current = pyotp.TOTP(secret)
    return next(c for c in ("000000", "111111", "222222", "333333") if not current.verify(c, valid_window=1))


def test_first_login_enrols_totp_and_opens_the_session(client: TestClient, db: Session) -> None:
    inst = make_institution(db, name="第一医院")
    staff = make_staff(db, inst, roles=["it_admin"], username="zhang.san")
    assert staff_login(client, inst, "zhang.san", STAFF_PASSWORD, None)["next"] == "enrol_mfa"
    started = client.post(ENROL)
    assert started.status_code == 200
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert "issuer=IHIS%20%E7%AC%AC%E4%B8%80%E5%8C%BB%E9%99%A2" in body["otpauth_uri"]
    assert body["secret"] in body["otpauth_uri"]
    png = base64.b64decode(body["qr_png"].removeprefix("data:image/png;base64,"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert client.get(f"{API}/admin/staff").status_code == 401  # not yet confirmed
    confirmed = client.post(CONFIRM, json={"code": totp(body["secret"])})
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert confirmed.json()["next"] == "done"
    assert client.get(f"{API}/admin/staff").status_code == 200
    db.expire_all()
    account = db.get(UserAccount, staff.id)
    assert account is not None and account.totp_enabled_at is not None
    stored = list(db.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == staff.id)))
    assert len(stored) == 10 and not set(codes) & set(stored)  # stored hashed


def test_confirm_with_a_wrong_code_names_the_field_and_leaves_totp_off(
    client: TestClient, db: Session
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    staff_login(client, inst, staff.username or "", STAFF_PASSWORD, None)
    secret = client.post(ENROL).json()["secret"]
    response = client.post(CONFIRM, json={"code": _wrong_code(secret)})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.code"
    db.expire_all()
    assert db.get(UserAccount, staff.id).totp_enabled_at is None  # type: ignore[union-attr]


def test_confirm_without_enrolment_is_a_conflict(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    staff_login(client, inst, staff.username or "", STAFF_PASSWORD, None)
    assert client.post(CONFIRM, json={"code": "123456"}).status_code == 409


def test_code_too_short_is_named(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings, mfa_verified=False)
    response = client.post(VERIFY, json={"code": "12"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.code"


def test_verify_with_a_totp_code_completes_the_login(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    secret = enrol_totp(db, staff)
    staff_login(client, inst, staff.username or "", STAFF_PASSWORD, None)
    response = client.post(VERIFY, json={"code": totp(secret)})
    assert response.status_code == 200
    assert response.json()["method"] == "totp" and response.json()["next"] == "done"


def test_recovery_code_works_once(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings, mfa_verified=False)
    _, codes = _enrol(client)
    staff_login(anon, inst, staff.username or "", STAFF_PASSWORD, None)
    first = anon.post(VERIFY, json={"code": codes[0].upper()})
    assert first.status_code == 200
    assert first.json() == {"method": "recovery", "recovery_codes_remaining": 9, "next": "done"}
    anon.cookies.clear()
    staff_login(anon, inst, staff.username or "", STAFF_PASSWORD, None)
    again = anon.post(VERIFY, json={"code": codes[0]})
    assert again.status_code == 401
    assert again.json()["code"] == "second_factor_failed"


def test_wrong_codes_count_as_login_failures_and_lock_out(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    secret = enrol_totp(db, staff)
    staff_login(client, inst, staff.username or "", STAFF_PASSWORD, None)
    session_id = current_session_id(db, staff.id)
    for _ in range(settings.lockout_threshold - 1):
        assert client.post(VERIFY, json={"code": _wrong_code(secret)}).status_code == 401
    last = client.post(VERIFY, json={"code": _wrong_code(secret)})
    assert last.status_code == 401
    # The failure that reached the threshold closed the half-open session.
    assert session_row(db, session_id).revoked_reason == "lockout"
    relogin = client.post(
        f"{API}/auth/staff/login",
        json={"username": staff.username, "password": STAFF_PASSWORD},
        headers={"X-IHIS-Institution": inst.code},
    )
    assert relogin.status_code == 429 and "Retry-After" in relogin.headers
    assert throttle.is_locked(db, settings, throttle.principal_key(inst.id, "staff", staff.username or ""))


def test_verify_before_enrolment_is_a_conflict(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings, mfa_verified=False)
    response = client.post(VERIFY, json={"code": "123456"})
    assert response.status_code == 409 and response.json()["next"] == "enrol_mfa"


def test_mfa_endpoints_need_a_session(anon: TestClient) -> None:
    for path in (ENROL, CONFIRM, VERIFY, STEP_UP):
        assert anon.post(path, json={"code": "123456", "password": "x"}).status_code == 401, path


def test_mfa_endpoints_are_for_staff_only(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_patient(db, inst), settings)
    assert client.post(ENROL).status_code == 403
    assert client.post(CONFIRM, json={"code": "123456"}).status_code == 403
    assert client.post(VERIFY, json={"code": "123456"}).status_code == 403
    assert client.post(STEP_UP, json={"password": "x", "code": "123456"}).status_code == 403


def test_re_enrolment_of_an_enrolled_account_needs_a_recent_step_up(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    old_secret = enrol_totp(db, staff)
    issued = login_as(client, db, staff, settings)
    session_row(db, issued.session_id).step_up_at = None
    db.commit()
    refused = client.post(ENROL)
    assert refused.status_code == 403 and refused.json()["next"] == "step_up"
    grant_step_up(db, issued.session_id)
    new_secret = client.post(ENROL).json()["secret"]
    assert new_secret != old_secret
    assert client.post(CONFIRM, json={"code": totp(new_secret)}).status_code == 200


def test_half_open_session_cannot_re_enrol_an_enrolled_account(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    enrol_totp(db, staff)
    staff_login(client, inst, staff.username or "", STAFF_PASSWORD, None)
    response = client.post(ENROL)
    assert response.status_code == 401 and response.json()["next"] == "mfa"


def test_step_up_with_password_and_code_opens_sensitive_actions(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    secret = enrol_totp(db, staff)
    issued = login_as(client, db, staff, settings)
    response = client.post(STEP_UP, json={"password": STAFF_PASSWORD, "code": totp(secret)})
    assert response.status_code == 200
    assert response.json()["valid_until"]
    assert session_row(db, issued.session_id).step_up_at is not None


def test_step_up_with_a_wrong_password_or_code_fails_and_counts(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    secret = enrol_totp(db, staff)
    issued = login_as(client, db, staff, settings)
    session_row(db, issued.session_id).step_up_at = None
    db.commit()
    wrong_password = client.post(STEP_UP, json={"password": "Not-The-Passw0rd", "code": totp(secret)})
    wrong_code = client.post(STEP_UP, json={"password": STAFF_PASSWORD, "code": _wrong_code(secret)})
    assert wrong_password.status_code == wrong_code.status_code == 401
    assert session_row(db, issued.session_id).step_up_at is None
    principal = throttle.principal_key(inst.id, "staff", staff.username or "")
    for _ in range(settings.lockout_threshold - 2):
        client.post(STEP_UP, json={"password": "Not-The-Passw0rd", "code": totp(secret)})
    locked = client.post(STEP_UP, json={"password": STAFF_PASSWORD, "code": totp(secret)})
    assert locked.status_code == 429
    assert throttle.is_locked(db, settings, principal)


def test_step_up_needs_a_verified_session(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    secret = enrol_totp(db, staff)
    login_as(client, db, staff, settings, mfa_verified=False)
    response = client.post(STEP_UP, json={"password": STAFF_PASSWORD, "code": totp(secret)})
    assert response.status_code == 401


def test_step_up_missing_fields_are_named(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings)
    response = client.post(STEP_UP, json={})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body.password", "body.code"}


def test_a_totp_code_is_accepted_only_once(client: TestClient, db: Session) -> None:
    """RFC 6238 §5.2: a code replayed within its validity window is refused."""
    from ihis.identity.mfa import consume_totp

    inst = make_institution(db)
    staff = make_staff(db, inst, roles=["doctor"])
    secret = enrol_totp(db, staff)
    code = str(pyotp.TOTP(secret).now())
    assert consume_totp(db, staff.id, secret, code) is True
    assert consume_totp(db, staff.id, secret, code) is False
