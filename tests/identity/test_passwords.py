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
