"""Password hashing (argon2id at OWASP's minimum) and the staff password policy."""

from __future__ import annotations

import os
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ihis.platform.errors import FieldError, InvalidInput, RateLimited

# OWASP Password Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1.
T = TypeVar("T")

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
# Verifying against this keeps the time of "no such account" equal to "wrong password".
_DUMMY_HASH = _HASHER.hash("ihis-dummy-password-for-timing")


def _lower_priority() -> None:
    # Linux nice values are per thread: argon2 threads yield the CPU to the event loop and to
    # ordinary requests, so shedding and the rest of the API stay fast while hashing saturates.
    with suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, 0, 10)


class PasswordWorkGate:
    """Admission control for argon2 work (each call costs ~25 ms of CPU and 19 MiB).

    At most ``concurrency`` hashes run at once, on dedicated lower-priority threads, and at most
    ``queue`` more wait; any request beyond that is refused at once with 429 + Retry-After.
    Shedding early keeps the admitted logins inside their latency budget under a login storm,
    instead of every login getting slow (and the process's memory growing with the queue)."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency = max(1, concurrency)
        self.limit = self.concurrency + max(0, queue)
        self._lock = threading.Lock()
        self._admitted = 0
        self._pool = ThreadPoolExecutor(self.concurrency, "argon2", initializer=_lower_priority)

    @contextmanager
    def admit(self) -> Iterator[None]:
        with self._lock:
            if self._admitted >= self.limit:
                raise RateLimited(1, "系统繁忙，请稍后再试", "The system is busy; try again in a moment")
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    @property
    def saturated(self) -> bool:
        """True while a new request would be refused (read without the lock: a hint only)."""
        return self._admitted >= self.limit

    def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on a hashing thread if admitted (else 429), waiting for its result."""
        with self.admit():
            return self._pool.submit(work).result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)


_gate = PasswordWorkGate(os.cpu_count() or 2, 8)


def configure_password_gate(concurrency: int | None, queue: int) -> None:
    """Size the gate for this process (``create_app``; None = one hash per CPU core)."""
    global _gate
    old, _gate = _gate, PasswordWorkGate(concurrency or os.cpu_count() or 2, queue)
    old.shutdown()


def password_work_saturated() -> bool:
    """Whether password work is at capacity (the ASGI shedder refuses early while it is)."""
    return _gate.saturated


def hash_password(password: str) -> str:
    return _gate.run(lambda: _HASHER.hash(password))


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; always spends one argon2 verification (or raises 429 when
    the process is saturated with password work)."""
    return _gate.run(lambda: _verify(password_hash, password))


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
