"""The signing authority (CA / cloud signing service) as IHIS sees it, and its request signature.

A signer is enrolled by the hospital (IT), then sets a personal signing PIN; the key pair is made
and the certificate issued when the first PIN is set, so an enrolment without a PIN holds no usable
key (DOMAIN §2: the PIN is the person's "unique digital credential", never known to an admin).
Signing takes a digest and the PIN; the authority checks the PIN, counts wrong ones and locks.

Every API request is authenticated with an HMAC over method, path, timestamp, nonce and the body's
SHA-256 (headers ``X-CA-Key``, ``X-CA-Timestamp``, ``X-CA-Nonce``, ``X-CA-Signature``), the shape of
the cloud signing services' AK/SK schemes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final, Protocol

KEY_HEADER: Final = "X-CA-Key"
TIMESTAMP_HEADER: Final = "X-CA-Timestamp"
NONCE_HEADER: Final = "X-CA-Nonce"
SIGNATURE_HEADER: Final = "X-CA-Signature"
# A request older or newer than this is refused (replay window).
MAX_CLOCK_SKEW_SECONDS: Final = 300

SIGNER_KINDS: Final = ("doctor", "pharmacist", "seal")
# Digest signature algorithms by crypto suite's hash (SM2 is not implemented yet: docs/signing.md).
ALGORITHM_BY_HASH: Final = {"sha256": "ecdsa-p256-sha256", "sm3": "ecdsa-p256-sm3"}


class CaError(Exception):
    """Any failure of the signing authority; ``code`` is stable and safe to log."""

    def __init__(self, code: str, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


class CaUnavailable(CaError):
    """Transport failure, timeout or 5xx after retries: try again later."""


class CaRejected(CaError):
    """The authority refused the request (bad input, unknown signer, revoked, no PIN yet)."""


class WrongPin(CaRejected):
    """The PIN did not open the key; ``remaining`` attempts before the lock."""

    def __init__(self, remaining: int) -> None:
        super().__init__("pin_wrong", 403)
        self.remaining = remaining


class PinLocked(CaRejected):
    """Too many wrong PINs: signing is locked until ``until``."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__("pin_locked", 429)
        self.until = until


@dataclass(frozen=True)
class SignerSubject:
    """Who a certificate is for: name, staff number (or credit code for a seal), institution."""

    kind: str
    name: str
    staff_no: str
    institution_code: str
    institution_name: str


@dataclass(frozen=True)
class Enrolment:
    """The authority's handle of an enrolled signer; no key exists until the first PIN is set."""

    signer_ref: str
    status: str  # "pending_pin"


@dataclass(frozen=True)
class IssuedCertificate:
    """The end-entity certificate (PEM) and the facts shown to its holder."""

    certificate_pem: str
    serial_hex: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True)
class DigestSignature:
    """A signature over a digest, its algorithm and the certificate of the key that made it."""

    signature: bytes
    algorithm: str
    certificate_pem: str


class SigningAuthority(Protocol):
    """What IHIS needs from a CA / cloud signing service."""

    def enrol(self, subject: SignerSubject) -> Enrolment:
        """Register a signer; the key and certificate follow the first PIN."""
        ...

    def set_pin(self, signer_ref: str, new_pin: str, old_pin: str | None) -> IssuedCertificate:
        """Set the first PIN (``old_pin`` None: key made, certificate issued) or change it."""
        ...

    def sign_digest(self, signer_ref: str, digest: bytes, hash_name: str, pin: str) -> DigestSignature:
        """Sign ``digest`` (made with ``hash_name``) with the signer's key, opened by ``pin``."""
        ...

    def revoke(self, signer_ref: str, reason: str) -> None:
        """Revoke the signer's certificate and destroy its key."""
        ...

    def certificate_chain(self) -> list[str]:
        """The authority's chain, root last (PEM)."""
        ...


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The canonical request line the HMAC covers."""
    body_hash = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), path, timestamp, nonce, body_hash)).encode()


def request_signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Base64 HMAC-SHA256 of the request under the API secret."""
    mac = hmac.new(secret.encode(), string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()
