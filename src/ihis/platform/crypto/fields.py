"""Field encryption at rest (ARCHITECTURE principle 7): the ``EncryptedString`` column type, its token
format, and the keyed blind index used to look encrypted values up.

A stored value is a token ``v1:<suite>:<key id>:<base64url(nonce || ciphertext || tag)>``. The header
is authenticated as associated data, so a token cannot be relabelled to another key or suite; it
is kept in clear so that old keys (and a previous suite) still decrypt and ``ihis keys rotate``
can find what is not yet under the active key with a plain prefix test.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from ihis.platform.crypto import keyring
from ihis.platform.crypto.suites import NONCE_BYTES, TAG_BYTES, CryptoError, suite_named

if TYPE_CHECKING:
    from ihis.platform.db import Database

FORMAT_VERSION: Final = "v1"


def token_prefix(suite_name: str, key_id: str) -> str:
    """The clear header every token written under ``suite_name`` and ``key_id`` starts with."""
    return f"{FORMAT_VERSION}:{suite_name}:{key_id}:"


def active_token_prefix() -> str:
    """The header of tokens written now (what ``rotate_keys`` converges every column to)."""
    ring = keyring.current()
    return token_prefix(ring.suite.name, ring.active_key_id)


def encrypt_field(plaintext: str) -> str:
    """Encrypt one value under the active suite and key (a fresh random nonce each time)."""
    ring = keyring.current()
    header = token_prefix(ring.suite.name, ring.active_key_id)
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.suite.seal(
        ring.key(ring.active_key_id), nonce, plaintext.encode("utf-8"), header.encode("ascii")
    )
    return header + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split(":", 3)
    if len(parts) != 4 or parts[0] != FORMAT_VERSION:
        raise CryptoError("not an encrypted-field token")
    return parts[1], parts[2], parts[3]


def token_key(token: str) -> tuple[str, str]:
    """The (suite, key id) a token was written under."""
    suite_name, key_id, _ = _split(token)
    return suite_name, key_id


def decrypt_field(token: str) -> str:
    """Decrypt a token written by ``encrypt_field`` under any configured key and either suite."""
    suite_name, key_id, body = _split(token)
    suite = suite_named(suite_name)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise CryptoError("encrypted-field token is not valid base64") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise CryptoError("encrypted-field token is truncated")
    header = token_prefix(suite_name, key_id).encode("ascii")
    key = keyring.current().key(key_id)
    return suite.open(key, raw[:NONCE_BYTES], raw[NONCE_BYTES:], header).decode("utf-8")


def blind_index(value: str, purpose: str) -> str:
    """Keyed hash for exact-match lookup of an encrypted field (normalised by the caller).

    ``purpose`` separates indexes (the same phone under "phone" and "login" hashes differently);
    HMAC-SHA256 in the intl suite, HMAC-SM3 in gm, hex.
    """
    if "\x00" in purpose:
        raise ValueError("purpose must not contain NUL")
    ring = keyring.current()
    return ring.suite.mac(ring.blind_key, purpose.encode("utf-8") + b"\x00" + value.encode("utf-8")).hex()


class EncryptedString(TypeDecorator[str]):
    """A text column encrypted on write and decrypted on read (pair it with a blind-index column).

    Encryption is randomised, so never filter on the column itself; look up by its blind index.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else encrypt_field(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else decrypt_field(value)


def rotate_keys(database: Database, *, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every ``EncryptedString`` column under the active key; counts by ``table.column``."""
    from ihis.platform.crypto.rotation import rotate_all

    return rotate_all(database, batch_size=batch_size)
