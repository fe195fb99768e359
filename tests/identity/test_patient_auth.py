"""Patient sign-up, sign-in (password or SMS code), password reset, through HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ihis.identity import throttle
from ihis.identity.models import AuthSession, UserAccount
from ihis.platform.audit import AuditEvent
from ihis.platform.crypto.fields import blind_index
from ihis.settings import Settings
from tests.factories import PATIENT_PASSWORD, login_as, make_institution, make_patient, make_staff
from tests.factories_patient import age_sms_codes, last_sms_code, new_phone


@pytest.fixture(autouse=True)
def _fresh_ip_counts() -> Iterator[None]:
    throttle.reset_ip_counts()
    yield
    throttle.reset_ip_counts()


@pytest.fixture
def inst(db: Session):  # type: ignore[no-untyped-def]
    institution = make_institution(db)
    db.commit()
    return institution


def _code(client: TestClient, db: Session, inst, phone: str, purpose: str) -> str:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/auth/sms-codes", json={"phone": phone, "purpose": purpose}, headers=_h(inst))
    assert r.status_code == 202, r.text
    return last_sms_code(db, phone)


def _h(inst) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"X-IHIS-Institution": inst.code}


def _account(db: Session, inst, phone: str) -> UserAccount | None:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.scalar(
        select(UserAccount).where(
            UserAccount.institution_id == inst.id, UserAccount.phone_bidx == blind_index(phone, "phone")
        )
    )


# --- registration -------------------------------------------------------------------------------


def test_patient_registers_with_code_read_from_the_sandbox_console_and_is_signed_in(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, inst
) -> None:  # type: ignore[no-untyped-def]
    ops = make_staff(db, inst, roles=["operations"])
    login_as(client, db, ops, settings)
    phone = new_phone()
    assert (
        anon.post(
            "/api/v1/auth/sms-codes", json={"phone": phone, "purpose": "register"}, headers=_h(inst)
        ).status_code
        == 202
    )
    # Operations read the code in the console's sandbox SMS outbox, as the demo does.
    listed = client.get("/api/v1/admin/sandbox/sms", params={"phone": phone})
    assert listed.status_code == 200, listed.text
    [message] = listed.json()
    assert message["phone"] == phone and message["code"] == "OK"
    code = message["text"].split("验证码为")[1][:6]
    r = anon.post(
        "/api/v1/auth/patient/register",
        json={"phone": phone, "code": code, "password": "walk2clinic", "display_name": "小王"},
        headers=_h(inst),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["next"] == "done" and body["token"] is None and body["display_name"] == "小王"
    assert "ihis_session" in r.cookies
    anon.headers["X-CSRF-Token"] = r.cookies["ihis_csrf"]
    me = anon.get("/api/v1/me/profile")
    assert me.status_code == 200
    assert me.json()["display_name"] == "小王"
    assert me.json()["phone"] == phone[:3] + "******" + phone[-2:]
    account = _account(db, inst, phone)
    assert account is not None and account.kind == "patient"
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == account.id)))
    assert {"patient.register", "auth.login"} <= actions


def test_api_client_registration_returns_a_bearer_token(
    client: TestClient, anon: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    code = _code(client, db, inst, phone, "register")
    r = anon.post(
        "/api/v1/auth/patient/register",
        json={"phone": phone, "code": code, "password": "walk2clinic", "client": "api"},
        headers=_h(inst),
    )
    assert r.status_code == 201
    token = r.json()["token"]
    assert token and "ihis_session" not in r.cookies
    profile = TestClient(anon.app).get("/api/v1/me/profile", headers={"Authorization": f"Bearer {token}"})
    assert profile.status_code == 200
    assert profile.json()["display_name"] == f"用户{phone[-4:]}"


def test_registration_stores_the_phone_encrypted_with_a_blind_index(
    client: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    code = _code(client, db, inst, phone, "register")
    client.post(
        "/api/v1/auth/patient/register",
        json={"phone": phone, "code": code, "password": "walk2clinic"},
        headers=_h(inst),
    )
    account = _account(db, inst, phone)
    assert account is not None
    raw = db.execute(
        text("SELECT phone, phone_bidx FROM user_account WHERE id = :id"), {"id": account.id}
    ).one()
    assert phone not in raw[0] and raw[0].startswith("v1:")
    assert raw[1] == blind_index(phone, "phone")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1a", "password_too_short"),
        ("onlyletters", "password_too_simple"),
        ("1234567890", "password_too_simple"),
    ],
)
def test_weak_patient_password_is_refused_without_burning_the_code(
    client: TestClient, db: Session, inst, password: str, problem: str
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    code = _code(client, db, inst, phone, "register")
    r = client.post(
        "/api/v1/auth/patient/register",
        json={"phone": phone, "code": code, "password": password},
        headers=_h(inst),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0] == {**r.json()["errors"][0], "field": "body.password", "code": problem}
    ok = client.post(
        "/api/v1/auth/patient/register",
        json={"phone": phone, "code": code, "password": "walk2clinic"},
        headers=_h(inst),
    )
    assert ok.status_code == 201


def test_register_with_a_malformed_code_or_phone_names_the_field(client: TestClient, inst) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/auth/patient/register",
        json={"phone": "123", "code": "12ab56", "password": "walk2clinic"},
        headers=_h(inst),
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"body.phone", "body.code"}


def test_register_without_any_code_sent_is_refused(client: TestClient, inst) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/auth/patient/register",
        json={"phone": new_phone(), "code": "123456", "password": "walk2clinic"},
        headers=_h(inst),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "sms_code_invalid"


def test_a_code_for_another_purpose_does_not_register(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    make_patient(db, inst, phone=phone)
    db.commit()
    code = _code(client, db, inst, phone, "login")
    r = client.post(
        "/api/v1/auth/patient/register",
        json={"phone": phone, "code": code, "password": "walk2clinic"},
        headers=_h(inst),
    )
    assert r.status_code == 422


# --- sign-in ------------------------------------------------------------------------------------


def test_patient_signs_in_with_password(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    patient = make_patient(db, inst, phone=phone)
    db.commit()
    r = client.post(
        "/api/v1/auth/patient/login", json={"phone": phone, "password": PATIENT_PASSWORD}, headers=_h(inst)
    )
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == patient.id and r.json()["next"] == "done"
    assert "ihis_session" in r.cookies
    db.expire_all()
    session = db.scalar(select(AuthSession).where(AuthSession.user_id == patient.id))
    assert session is not None and session.mfa_verified and session.channel == "cookie"


def test_patient_signs_in_with_an_sms_code_once(
    client: TestClient, anon: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    patient = make_patient(db, inst, phone=phone)
    db.commit()
    code = _code(client, db, inst, phone, "login")
    r = anon.post(
        "/api/v1/auth/patient/login", json={"phone": phone, "code": code, "client": "api"}, headers=_h(inst)
    )
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == patient.id and r.json()["token"]
    again = anon.post("/api/v1/auth/patient/login", json={"phone": phone, "code": code}, headers=_h(inst))
    assert again.status_code == 401 and again.json()["code"] == "login_failed"


def test_unknown_phone_and_wrong_password_get_the_same_answer(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    make_patient(db, inst, phone=phone)
    db.commit()
    wrong = client.post(
        "/api/v1/auth/patient/login", json={"phone": phone, "password": "nope12345"}, headers=_h(inst)
    )
    unknown = client.post(
        "/api/v1/auth/patient/login", json={"phone": new_phone(), "password": "nope12345"}, headers=_h(inst)
    )
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda b: {k: v for k, v in b.items() if k not in ("request_id",)}  # noqa: E731
    assert strip(wrong.json()) == strip(unknown.json())
    assert wrong.json()["code"] == "login_failed"


def test_disabled_patient_cannot_sign_in_and_gets_the_same_answer(
    client: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    make_patient(db, inst, phone=phone, status="disabled")
    db.commit()
    r = client.post(
        "/api/v1/auth/patient/login", json={"phone": phone, "password": PATIENT_PASSWORD}, headers=_h(inst)
    )
    assert r.status_code == 401 and r.json()["code"] == "login_failed"


def test_login_needs_exactly_one_of_password_and_code(client: TestClient, inst) -> None:  # type: ignore[no-untyped-def]
    neither = client.post("/api/v1/auth/patient/login", json={"phone": new_phone()}, headers=_h(inst))
    both = client.post(
        "/api/v1/auth/patient/login",
        json={"phone": new_phone(), "password": "x1234567", "code": "123456"},
        headers=_h(inst),
    )
    for r in (neither, both):
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"body.password", "body.code"}


def test_repeated_wrong_passwords_lock_the_phone_with_429(
    client: TestClient, db: Session, inst, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    make_patient(db, inst, phone=phone)
    db.commit()
    for _ in range(settings.lockout_threshold):
        r = client.post(
            "/api/v1/auth/patient/login", json={"phone": phone, "password": "wrong1234"}, headers=_h(inst)
        )
        assert r.status_code == 401
    locked = client.post(
        "/api/v1/auth/patient/login", json={"phone": phone, "password": PATIENT_PASSWORD}, headers=_h(inst)
    )
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    db.expire_all()
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "auth.lockout")) is not None


def test_wrong_login_codes_count_towards_the_lockout_and_the_code(
    client: TestClient, db: Session, inst, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    make_patient(db, inst, phone=phone)
    db.commit()
    code = _code(client, db, inst, phone, "login")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(settings.lockout_threshold):
        assert (
            client.post(
                "/api/v1/auth/patient/login", json={"phone": phone, "code": wrong}, headers=_h(inst)
            ).status_code
            == 401
        )
    r = client.post("/api/v1/auth/patient/login", json={"phone": phone, "code": code}, headers=_h(inst))
    assert r.status_code == 429


# --- password reset -----------------------------------------------------------------------------


def test_reset_password_with_code_signs_out_everywhere_and_the_new_password_works(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    patient = make_patient(db, inst, phone=phone)
    db.commit()
    login_as(client, db, patient, settings)
    assert client.get("/api/v1/me/profile").status_code == 200
    code = _code(anon, db, inst, phone, "reset")
    r = anon.post(
        "/api/v1/auth/patient/reset-password",
        json={"phone": phone, "code": code, "new_password": "fresh2start"},
        headers=_h(inst),
    )
    assert r.status_code == 204, r.text
    assert client.get("/api/v1/me/profile").status_code == 401
    old = anon.post(
        "/api/v1/auth/patient/login", json={"phone": phone, "password": PATIENT_PASSWORD}, headers=_h(inst)
    )
    assert old.status_code == 401
    new = anon.post(
        "/api/v1/auth/patient/login", json={"phone": phone, "password": "fresh2start"}, headers=_h(inst)
    )
    assert new.status_code == 200


def test_reset_with_a_wrong_code_or_weak_password_names_the_field(
    client: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    make_patient(db, inst, phone=phone)
    db.commit()
    code = _code(client, db, inst, phone, "reset")
    weak = client.post(
        "/api/v1/auth/patient/reset-password",
        json={"phone": phone, "code": code, "new_password": "short"},
        headers=_h(inst),
    )
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "body.new_password"
    wrong = client.post(
        "/api/v1/auth/patient/reset-password",
        json={"phone": phone, "code": f"{(int(code) + 1) % 1_000_000:06d}", "new_password": "fresh2start"},
        headers=_h(inst),
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "body.code"


def test_reset_for_an_unknown_phone_fails_like_a_wrong_code(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    client.post("/api/v1/auth/sms-codes", json={"phone": phone, "purpose": "reset"}, headers=_h(inst))
    r = client.post(
        "/api/v1/auth/patient/reset-password",
        json={"phone": phone, "code": "000000", "new_password": "fresh2start"},
        headers=_h(inst),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "sms_code_invalid"


def test_sms_code_issued_after_the_interval_can_be_used(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    make_patient(db, inst, phone=phone)
    db.commit()
    _code(client, db, inst, phone, "login")
    age_sms_codes(db, phone, seconds=61)
    code = _code(client, db, inst, phone, "login")
    assert (
        client.post(
            "/api/v1/auth/patient/login", json={"phone": phone, "code": code}, headers=_h(inst)
        ).status_code
        == 200
    )
