"""Signing rules: who may hold a signer, what a PIN looks like, what a document kind looks like."""

from __future__ import annotations

import itertools
import re
from typing import Final

from ihis.identity.access import Role

# Roles that sign (DOMAIN §2: every doctor and pharmacist has a signing certificate).
SIGNER_KIND_BY_ROLE: Final = {
    Role.DOCTOR.value: "doctor",
    Role.PHARMACIST.value: "pharmacist",
    Role.SENIOR_PHARMACIST.value: "pharmacist",
}
PIN_MIN_LENGTH: Final = 6
PIN_MAX_LENGTH: Final = 16
KIND_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_.]{1,31}$")
REF_ID_MAX: Final = 64


def signer_kind(roles: frozenset[str] | set[str]) -> str | None:
    """``doctor`` or ``pharmacist`` for a person holding that role (doctor wins), else None."""
    for role, kind in SIGNER_KIND_BY_ROLE.items():
        if role in roles:
            return kind
    return None


def pin_problem(pin: str) -> tuple[str, str, str] | None:
    """Why ``pin`` is refused as a new PIN (code, zh, en), or None when acceptable.

    6-16 digits; not one repeated digit and not an ascending or descending run (123456, 987654),
    the PINs tried first by anyone guessing.
    """
    if not (pin.isascii() and pin.isdigit() and PIN_MIN_LENGTH <= len(pin) <= PIN_MAX_LENGTH):
        return ("pin_format", "签名 PIN 须为 6 至 16 位数字", "The signing PIN must be 6 to 16 digits")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({0}, {1}, {-1}):
        return ("pin_too_simple", "签名 PIN 过于简单", "The signing PIN is too simple")
    return None
