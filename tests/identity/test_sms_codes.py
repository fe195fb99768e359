"""SMS verification codes: issue, deliver through the sandbox provider, single use, expiry,
attempt limit, send limits, and no account enumeration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity import throttle
from ihis.identity.models import SmsCode
from ihis.platform.crypto.fields import blind_index
from ihis.settings import Settings
from tests.factories import make_institution, make_patient
from tests.factories_patient import (
    age_sms_codes,
    expire_sms_codes,
    last_sms_code,
    new_phone,
    sandbox_messages,
)


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


def _ask(client: TestClient, inst, phone: str, purpose: str = "register", **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/auth/sms-codes",
        json={"phone": phone, "purpose": purpose, "institution_code": inst.code},
        headers=headers,
    )


def _register(client: TestClient, inst, phone: str, code: str, password: str = "abc12345"):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/auth/patient/register",
        json={"phone": phone, "code": code, "password": password, "institution_code": inst.code},
    )


def test_requesting_a_code_delivers_six_digits_through_the_sandbox_provider(
    client: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    r = _ask(client, inst, phone)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": True, "interval_seconds": 60, "expires_in_seconds": 300}
    [message] = sandbox_messages(db, phone)
    assert message.code == "OK"
    assert message.template_code == "SMS_IHIS_REGISTER_CODE"
    assert message.text.startswith("【互联网医院】您正在注册")
    code = last_sms_code(db, phone)
    assert len(code) == 6 and code.isdigit()


def test_code_is_stored_hashed_with_five_minute_expiry(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    _ask(client, inst, phone)
    code = last_sms_code(db, phone)
    row = db.scalar(select(SmsCode).where(SmsCode.phone_bidx == blind_index(phone, "phone")))
    assert row is not None
    assert code not in row.code_hash
    assert (row.expires_at - row.created_at).total_seconds() == 300


def test_bad_phone_is_rejected_naming_the_field(client: TestClient, inst) -> None:  # type: ignore[no-untyped-def]
    for bad in ("12345678901", "1390000111", "139000011112", "abc"):
        r = _ask(client, inst, bad)
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == ["body.phone"]


def test_unknown_purpose_is_rejected_naming_the_field(client: TestClient, inst) -> None:  # type: ignore[no-untyped-def]
    r = _ask(client, inst, new_phone(), purpose="step_up")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["body.purpose"]


def test_unknown_institution_is_not_found(client: TestClient) -> None:
    r = client.post(
        "/api/v1/auth/sms-codes", json={"phone": new_phone(), "purpose": "login", "institution_code": "NOPE"}
    )
    assert r.status_code == 404


def test_code_cannot_be_used_twice(client: TestClient, anon: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    _ask(client, inst, phone)
    code = last_sms_code(db, phone)
    assert _register(client, inst, phone, code).status_code == 201
    again = _register(anon, inst, phone, code)
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "body.code"
    assert again.json()["errors"][0]["code"] == "sms_code_invalid"


def test_expired_code_is_refused(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    _ask(client, inst, phone)
    code = last_sms_code(db, phone)
    expire_sms_codes(db, phone)
    r = _register(client, inst, phone, code)
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "sms_code_invalid"


def test_code_dies_after_max_wrong_attempts_even_for_the_right_code(
    client: TestClient, db: Session, inst, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    _ask(client, inst, phone)
    code = last_sms_code(db, phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(settings.sms_code_max_attempts):
        assert _register(client, inst, phone, wrong).status_code == 422
    db.expire_all()
    row = db.scalar(select(SmsCode).where(SmsCode.phone_bidx == blind_index(phone, "phone")))
    assert row is not None and row.attempts == settings.sms_code_max_attempts
    r = _register(client, inst, phone, code)
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "sms_code_invalid"


def test_a_wrong_guess_is_counted_although_the_request_fails(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    _ask(client, inst, phone)
    code = last_sms_code(db, phone)
    _register(client, inst, phone, f"{(int(code) + 7) % 1_000_000:06d}")
    db.expire_all()
    row = db.scalar(select(SmsCode).where(SmsCode.phone_bidx == blind_index(phone, "phone")))
    assert row is not None and row.attempts == 1 and row.consumed_at is None


def test_a_new_code_retires_the_previous_one(client: TestClient, db: Session, inst) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    _ask(client, inst, phone)
    first = last_sms_code(db, phone)
    age_sms_codes(db, phone, seconds=61)
    _ask(client, inst, phone)
    second = last_sms_code(db, phone)
    if first != second:
        assert _register(client, inst, phone, first).status_code == 422
    assert _register(client, inst, phone, second).status_code == 201


def test_second_request_within_the_interval_is_429_with_retry_after(
    client: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    assert _ask(client, inst, phone).status_code == 202
    r = _ask(client, inst, phone, purpose="login")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.json()["code"] == "rate_limited"
    assert len(sandbox_messages(db, phone)) == 1
    age_sms_codes(db, phone, seconds=61)
    assert _ask(client, inst, phone).status_code == 202


def test_daily_cap_per_phone(client: TestClient, db: Session, inst, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    for _ in range(settings.sms_send_per_phone_per_day):
        assert _ask(client, inst, phone).status_code == 202
        age_sms_codes(db, phone, seconds=61)
    r = _ask(client, inst, phone)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_hourly_cap_per_ip(client: TestClient, db: Session, inst, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    limited = settings.model_copy(update={"sms_send_per_ip_per_hour": 3})
    client.app.state.settings = limited  # type: ignore[attr-defined]
    for _ in range(3):
        assert _ask(client, inst, new_phone()).status_code == 202
    r = _ask(client, inst, new_phone())
    assert r.status_code == 429
    assert 3000 < int(r.headers["Retry-After"]) <= 3601


def test_register_code_for_a_registered_phone_answers_the_same_but_sends_no_code(
    client: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    make_patient(db, inst, phone=phone)
    db.commit()
    unknown = new_phone()
    known_answer = _ask(client, inst, phone)
    unknown_answer = _ask(client, inst, unknown)
    assert known_answer.status_code == unknown_answer.status_code == 202
    assert known_answer.json() == unknown_answer.json()
    [notice] = sandbox_messages(db, phone)
    assert notice.template_code == "SMS_IHIS_NOTICE"
    assert "已注册" in notice.text
    assert "验证码" not in notice.text


def test_login_code_for_an_unknown_phone_answers_the_same_and_the_dead_row_never_matches(
    client: TestClient, db: Session, inst
) -> None:  # type: ignore[no-untyped-def]
    known = new_phone()
    make_patient(db, inst, phone=known)
    db.commit()
    unknown = new_phone()
    a, b = _ask(client, inst, known, "login"), _ask(client, inst, unknown, "login")
    assert a.status_code == b.status_code == 202 and a.json() == b.json()
    assert last_sms_code(db, known)
    [notice] = sandbox_messages(db, unknown)
    assert notice.template_code == "SMS_IHIS_NOTICE" and "尚未注册" in notice.text
    # the unknown phone's row counts against the interval like a real one
    assert _ask(client, inst, unknown, "login").status_code == 429
