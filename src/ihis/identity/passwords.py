"""Password hashing (argon2id at OWASP's minimum) and the staff password policy."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ihis.platform.errors import FieldError, InvalidInput

# OWASP Password Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
# Verifying against this keeps the time of "no such account" equal to "wrong password".
_DUMMY_HASH = _HASHER.hash("ihis-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; always spends one argon2 verification."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


# No look-alike characters: initial passwords are read out or printed and typed by hand.
_INITIAL_ALPHABETS = ("ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz", "23456789", "!@#$%*+-=?")


def generate_initial_password(length: int = 16) -> str:
    """A random initial password meeting the staff policy (all four classes, no look-alikes)."""
    pool = "".join(_INITIAL_ALPHABETS)
    chars = [secrets.choice(alphabet) for alphabet in _INITIAL_ALPHABETS]
    chars += [secrets.choice(pool) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _classes(password: str) -> int:
    return sum(
        (
            any(c in string.ascii_lowercase for c in password),
            any(c in string.ascii_uppercase for c in password),
            any(c in string.digits for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def check_password_policy(
    password: str,
    *,
    field: str = "password",
    username: str | None = None,
    phone: str | None = None,
    min_length: int = 12,
) -> None:
    """Staff policy (GB/T 22239 level 3, DOMAIN §10): >= 12 chars, 3 of 4 classes, not the
    username or phone. Patients use ``min_length=8`` with 2 classes (see patient service)."""
    problems: list[FieldError] = []
    if len(password) < min_length:
        problems.append(
            FieldError(
                field, "password_too_short", f"密码至少 {min_length} 位", f"At least {min_length} characters"
            )
        )
    needed = 3 if min_length >= 12 else 2
    if _classes(password) < needed:
        problems.append(
            FieldError(
                field,
                "password_too_simple",
                f"密码需包含大写字母、小写字母、数字、符号中的至少 {needed} 类",
                f"Use at least {needed} of: upper case, lower case, digits, symbols",
            )
        )
    lowered = password.lower()
    for other in (username, phone):
        if other and lowered == other.lower():
            problems.append(
                FieldError(
                    field,
                    "password_equals_identity",
                    "密码不能与用户名或手机号相同",
                    "Password must differ from the username and phone",
                )
            )
            break
    if problems:
        raise InvalidInput(problems[0].message_zh, problems[0].message_en, errors=problems)
