"""Password hashing and the staff/patient password policies."""

from __future__ import annotations

import pytest

from ihis.identity.passwords import (
    check_password_policy,
    generate_initial_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from ihis.platform.errors import InvalidInput


def _codes(password: str, **kw: object) -> set[str]:
    with pytest.raises(InvalidInput) as failed:
        check_password_policy(password, **kw)  # type: ignore[arg-type]
    return {e.code for e in failed.value.errors}


def test_hash_verifies_only_the_same_password() -> None:
    hashed = hash_password("Correct-Horse-9")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "Correct-Horse-9")
    assert not verify_password(hashed, "correct-horse-9")
    assert not needs_rehash(hashed)


def test_missing_or_garbage_hash_never_verifies() -> None:
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")


def test_staff_policy_needs_twelve_characters_and_three_classes() -> None:
    check_password_policy("Abcdefghijk1")
    assert "password_too_short" in _codes("Abc-12")
    assert _codes("abcdefghijkl") == {"password_too_simple"}
    assert _codes("abcdefgh1234") == {"password_too_simple"}


def test_staff_password_may_not_equal_username_or_phone() -> None:
    assert _codes("Li.Ming-2024x", username="li.ming-2024X") == {"password_equals_identity"}
    assert "password_equals_identity" in _codes("13912345678", phone="13912345678")


def test_policy_errors_name_the_given_field() -> None:
    with pytest.raises(InvalidInput) as failed:
        check_password_policy("x", field="body.new_password")
    assert {e.field for e in failed.value.errors} == {"body.new_password"}


def test_patient_policy_is_eight_characters_and_two_classes() -> None:
    check_password_policy("simple12", min_length=8)
    assert _codes("simplest", min_length=8) == {"password_too_simple"}


def test_generated_initial_passwords_meet_the_staff_policy_and_differ() -> None:
    passwords = {generate_initial_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == 16
        check_password_policy(password)
        assert not set(password) & set("0O1lI")


def test_password_gate_sheds_work_beyond_its_queue_at_once() -> None:
    """Under a login storm the excess is refused with 429 immediately, not queued."""
    import threading
    import time

    from ihis.identity.passwords import PasswordWorkGate
    from ihis.platform.errors import RateLimited

    gate = PasswordWorkGate(concurrency=1, queue=1)
    release = threading.Event()
    inside = threading.Event()

    def hold() -> None:
        def work() -> None:
            inside.set()
            release.wait(5)

        gate.run(work)

    def wait_in_queue() -> None:
        gate.run(lambda: None)  # waits for the single hashing thread

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    queued = threading.Thread(target=wait_in_queue)
    queued.start()
    time.sleep(0.05)  # the second caller is now waiting for the slot
    started = time.perf_counter()
    with pytest.raises(RateLimited) as refused:
        gate.run(lambda: None)
    assert time.perf_counter() - started < 0.05
    assert refused.value.headers["Retry-After"] == "1"
    release.set()
    holder.join(5)
    queued.join(5)
    assert gate.run(lambda: 42) == 42  # capacity is back


def test_login_storm_beyond_capacity_is_answered_429_with_retry_after(client, db, settings) -> None:  # type: ignore[no-untyped-def]
    from ihis.identity import passwords
    from tests.factories import make_institution

    inst = make_institution(db)
    db.commit()
    saturated = passwords.PasswordWorkGate(concurrency=1, queue=0)
    saturated._admitted = saturated.limit  # every slot taken by other logins
    original = passwords._gate
    passwords._gate = saturated
    try:
        r = client.post(
            "/api/v1/auth/staff/login",
            json={"username": "someone", "password": "Whatever-Passw0rd"},
            headers={"X-IHIS-Institution": inst.code},
        )
    finally:
        passwords._gate = original
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert r.json()["code"] == "rate_limited"


def test_saturated_gate_sheds_login_before_reading_the_request(client) -> None:  # type: ignore[no-untyped-def]
    """The ASGI shedder answers 429 from the event loop (even an invalid body is never parsed)
    on password-work routes only; other routes are unaffected."""
    from ihis.identity import passwords

    saturated = passwords.PasswordWorkGate(concurrency=1, queue=0)
    saturated._admitted = saturated.limit
    original = passwords._gate
    passwords._gate = saturated
    try:
        shed = client.post("/api/v1/auth/patient/login", content=b"not json")
        english = client.post("/api/v1/auth/staff/login", content=b"", headers={"Accept-Language": "en"})
        other = client.post("/api/v1/auth/sms-codes", json={})
        health = client.get("/healthz")
    finally:
        passwords._gate = original
    assert shed.status_code == 429 and shed.headers["retry-after"] == "1"
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.json()["code"] == "rate_limited" and shed.json()["detail"] == "系统繁忙，请稍后再试"
    assert english.json()["title"] == "Too many requests; try again later"
    assert other.status_code == 422 and health.status_code == 200
