"""The two crypto suites: ``intl`` (AES-256-GCM, SHA-256, HMAC-SHA256) and ``gm`` 国密 (SM4-GCM, SM3,
HMAC-SM3), behind one small interface so that callers never name an algorithm.

Both AEADs take a 96-bit random nonce and produce a 128-bit tag (GB/T 36624 and NIST SP 800-38D
define GCM identically for any 128-bit block cipher). The ``gm`` suite accepts 16-byte SM4 keys as
they are and derives one from a 32-byte key with HKDF-SM3, so that one key list serves both suites.
"""

from __future__ import annotations

import hmac as std_hmac
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
_SM4_KDF_INFO: Final = b"ihis field-encryption sm4"


class CryptoError(Exception):
    """A ciphertext failed authentication, or a key is missing or malformed (never says more)."""


@dataclass(frozen=True)
class Suite:
    """One suite: its name (as recorded in ciphertext tokens) and its hash algorithm's name."""

    name: str
    hash_name: str

    def _hash(self) -> hashes.HashAlgorithm:
        return hashes.SHA256() if self.hash_name == "sha256" else hashes.SM3()

    def digest(self, data: bytes) -> bytes:
        """The suite's hash of ``data`` (SHA-256 or SM3, 32 bytes)."""
        h = hashes.Hash(self._hash())
        h.update(data)
        return h.finalize()

    def mac(self, key: bytes, data: bytes) -> bytes:
        """The suite's HMAC of ``data`` (HMAC-SHA256 or HMAC-SM3, 32 bytes)."""
        m = crypto_hmac.HMAC(key, self._hash())
        m.update(data)
        return m.finalize()

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Authenticated encryption: ``ciphertext || tag``."""
        if self.name == INTL.name:
            return AESGCM(_aes_key(key)).encrypt(nonce, plaintext, aad)
        encryptor = Cipher(algorithms.SM4(_sm4_key(key)), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(aad)
        body = encryptor.update(plaintext) + encryptor.finalize()
        return body + encryptor.tag

    def open(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt and authenticate ``ciphertext || tag``; ``CryptoError`` if anything was changed."""
        try:
            if self.name == INTL.name:
                return AESGCM(_aes_key(key)).decrypt(nonce, sealed, aad)
            if len(sealed) < TAG_BYTES:
                raise CryptoError("ciphertext too short")
            body, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
            decryptor = Cipher(algorithms.SM4(_sm4_key(key)), modes.GCM(nonce, tag)).decryptor()
            decryptor.authenticate_additional_data(aad)
            return decryptor.update(body) + decryptor.finalize()
        except CryptoError:
            raise
        except Exception as exc:  # InvalidTag, bad lengths: one opaque error, no oracle detail
            raise CryptoError("ciphertext failed authentication") from exc


def _aes_key(key: bytes) -> bytes:
    if len(key) != 32:
        raise CryptoError("AES-256-GCM needs a 32-byte key")
    return key


def _sm4_key(key: bytes) -> bytes:
    if len(key) == 16:
        return key
    if len(key) == 32:
        return HKDF(algorithm=hashes.SM3(), length=16, salt=None, info=_SM4_KDF_INFO).derive(key)
    raise CryptoError("SM4 needs a 16-byte key (or a 32-byte key to derive one from)")


INTL: Final = Suite(name="intl", hash_name="sha256")
GM: Final = Suite(name="gm", hash_name="sm3")
SUITES: Final[dict[str, Suite]] = {INTL.name: INTL, GM.name: GM}
_BY_HASH: Final[dict[str, Suite]] = {INTL.hash_name: INTL, GM.hash_name: GM}

# GB/T 32905-2016 appendix A.1: SM3("abc"), also DOMAIN.md §8's first test vector.
_SM3_ABC: Final = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def suite_named(name: str) -> Suite:
    """The suite called ``name`` (``intl`` or ``gm``)."""
    try:
        return SUITES[name]
    except KeyError:
        raise CryptoError(f"unknown crypto suite {name!r}") from None


def hash_hex(hash_name: str, data: bytes) -> str:
    """Hex digest of ``data`` with the named hash (``sha256`` or ``sm3``), e.g. for stored chains."""
    try:
        suite = _BY_HASH[hash_name]
    except KeyError:
        raise CryptoError(f"unknown hash algorithm {hash_name!r}") from None
    return suite.digest(data).hex()


def self_test(suite: Suite) -> None:
    """Known-answer and round-trip checks run once at start-up (a broken backend must not start)."""
    if suite is GM and GM.digest(b"abc").hex() != _SM3_ABC:
        raise CryptoError("SM3 known-answer test failed")
    key, nonce = bytes(range(32)), bytes(NONCE_BYTES)
    sealed = suite.seal(key, nonce, b"self-test", b"aad")
    if not std_hmac.compare_digest(suite.open(key, nonce, sealed, b"aad"), b"self-test"):
        raise CryptoError(f"{suite.name} round-trip self-test failed")
