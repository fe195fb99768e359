"""The process's crypto configuration: the active suite, the field keys by id, the blind-index key.

Loaded once by ``ihis.platform.crypto.configure(settings)`` (create_app, the CLI, the tests). Column
types cannot receive settings, so this state is process-wide; if nothing configured it yet, the
environment's settings are loaded on first use.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from dataclasses import dataclass
from typing import Final

from ihis.platform.crypto.suites import CryptoError, Suite, self_test, suite_named
from ihis.settings import Settings

KEY_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class CryptoConfigError(CryptoError):
    """The crypto settings are unusable; the message names the setting, never a key."""


@dataclass(frozen=True)
class Keyring:
    """Configured keys: new writes use ``active_key_id``; every listed key still decrypts."""

    suite: Suite
    keys: dict[str, bytes]
    active_key_id: str
    blind_key: bytes

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise CryptoError(f"field key {key_id!r} is not configured (IHIS_FIELD_KEYS)") from None


_lock = threading.Lock()
_current: Keyring | None = None


def parse_field_keys(spec: str) -> tuple[dict[str, bytes], str]:
    """Parse ``"k2:<base64>,k1:<base64>"``: keys by id, and the first (active) key id."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for n, item in enumerate(p.strip() for p in spec.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise CryptoConfigError(
                f"IHIS_FIELD_KEYS entry {n + 1}: expected keyid:base64key with keyid of [A-Za-z0-9_-]{{1,16}}"
            )
        if key_id in keys:
            raise CryptoConfigError(f"IHIS_FIELD_KEYS: key id {key_id!r} appears twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CryptoConfigError(f"IHIS_FIELD_KEYS: key {key_id!r} is not valid base64") from None
        if len(key) not in (16, 32):
            raise CryptoConfigError(f"IHIS_FIELD_KEYS: key {key_id!r} must be 32 bytes (or 16 for SM4)")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise CryptoConfigError("IHIS_FIELD_KEYS is empty")
    return keys, order[0]


def build_keyring(settings: Settings) -> Keyring:
    """Validate the settings and build a keyring (raises ``CryptoConfigError`` naming the setting)."""
    suite = suite_named(settings.crypto_suite.value)
    keys, active = parse_field_keys(settings.field_keys.get_secret_value())
    if suite.name == "intl" and len(keys[active]) != 32:
        raise CryptoConfigError(f"IHIS_FIELD_KEYS: the active key {active!r} must be 32 bytes for AES-256")
    blind = settings.blind_index_key.get_secret_value().encode()
    if len(blind) < 16:
        raise CryptoConfigError("IHIS_BLIND_INDEX_KEY must be at least 16 bytes")
    self_test(suite)
    return Keyring(suite=suite, keys=keys, active_key_id=active, blind_key=blind)


def configure(settings: Settings) -> Keyring:
    """Install the keyring for this process and return it."""
    global _current
    ring = build_keyring(settings)
    with _lock:
        _current = ring
    return ring


def install(ring: Keyring) -> None:
    """Install an already-built keyring (tests switching keys restore the previous one with this)."""
    global _current
    with _lock:
        _current = ring


def current() -> Keyring:
    """The configured keyring (loading the environment's settings on first use)."""
    ring = _current
    if ring is None:
        from ihis.settings import get_settings

        ring = configure(get_settings())
    return ring


def digest_hex(data: bytes) -> str:
    """Hex digest of ``data`` with the configured suite's hash (SHA-256 or SM3)."""
    return current().suite.digest(data).hex()
