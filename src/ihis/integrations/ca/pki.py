"""X.509 and key custody primitives of the sandbox CA and of signature verification.

Keys are ECDSA P-256. A signer's private key is stored only encrypted under a key derived from the
person's signing PIN: scrypt (N=2^15, r=8, p=1, 16-byte salt) -> 32 bytes -> AES-256-GCM with the
signer reference as associated data, so a blob cannot be moved to another signer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SCRYPT_N: Final = 2**15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
# The staff number travels in the subject's serialNumber attribute (RFC 5280 / X.520).
STAFF_NO_OID: Final = NameOID.SERIAL_NUMBER


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def new_tsa_key() -> rsa.RSAPrivateKey:
    """The sandbox TSA's key: RSA-2048 (pyhanko's token builder signs with RSA only)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    """Unencrypted PKCS#8 PEM (for the sandbox's own authority keys only)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_private_der(pem: str) -> bytes:
    """PKCS#8 DER of a PEM private key of any type."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private(pem: str) -> ec.EllipticCurvePrivateKey:
    """Load a P-256 private key from PEM."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    return key


def cert_pem(cert: x509.Certificate) -> str:
    """PEM text of ``cert``."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(pem: str) -> x509.Certificate:
    """Parse one PEM certificate."""
    return x509.load_pem_x509_certificate(pem.encode())


def _name(common_name: str, organization: str, serial: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial:
        attrs.append(x509.NameAttribute(STAFF_NO_OID, serial))
    return x509.Name(attrs)


def make_root(common_name: str, now: dt.datetime, years: int = 20) -> tuple[str, str]:
    """A self-signed root CA: (private key PEM, certificate PEM)."""
    key = new_key()
    name = _name(common_name, "IHIS Sandbox")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return private_pem(key), cert_pem(cert)


def _usage(*, cert_sign: bool = False, signing: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,  # nonRepudiation
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    root_key_pem: str,
    root_cert_pem: str,
    public_key: CertificatePublicKeyTypes,
    *,
    common_name: str,
    organization: str,
    staff_no: str | None,
    now: dt.datetime,
    days: int,
    time_stamping: bool = False,
) -> x509.Certificate:
    """An end-entity certificate for ``public_key`` issued by the root (signing or time stamping)."""
    root_key = load_private(root_key_pem)
    root = load_cert(root_cert_pem)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization, staff_no))
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signing=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
    )
    if time_stamping:
        # RFC 3161 §2.3: the TSA certificate has exactly one critical EKU, id-kp-timeStamping.
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(root_key, hashes.SHA256())


def _pin_key(pin: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(pin.encode())


def wrap_key(key: ec.EllipticCurvePrivateKey, pin: str, signer_ref: str) -> str:
    """The private key encrypted under the PIN-derived key (JSON: kdf parameters, salt, nonce, box)."""
    salt, nonce = os.urandom(16), os.urandom(12)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    box = AESGCM(_pin_key(pin, salt)).encrypt(nonce, der, signer_ref.encode())
    fields = {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "aead": "aes-256-gcm"}
    parts = {"salt": salt, "nonce": nonce, "box": box}
    return json.dumps(fields | {k: base64.b64encode(v).decode() for k, v in parts.items()}, sort_keys=True)


def unwrap_key(blob: str, pin: str, signer_ref: str) -> ec.EllipticCurvePrivateKey | None:
    """The private key if ``pin`` opens the blob, else None (a wrong PIN fails authentication)."""
    data = json.loads(blob)
    salt, nonce, box = (base64.b64decode(data[k]) for k in ("salt", "nonce", "box"))
    key = Scrypt(salt=salt, length=32, n=int(data["n"]), r=int(data["r"]), p=int(data["p"])).derive(
        pin.encode()
    )
    try:
        der = AESGCM(key).decrypt(nonce, box, signer_ref.encode())
    except InvalidTag:
        return None
    loaded = serialization.load_der_private_key(der, password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return loaded


def hash_algorithm(hash_name: str) -> hashes.HashAlgorithm:
    """The ``cryptography`` hash of a suite hash name (``sha256`` or ``sm3``)."""
    if hash_name == "sha256":
        return hashes.SHA256()
    if hash_name == "sm3":
        return hashes.SM3()
    raise ValueError(f"unknown hash {hash_name!r}")


def sign_digest(key: ec.EllipticCurvePrivateKey, digest: bytes, hash_name: str) -> bytes:
    """DER ECDSA signature over an already computed digest."""
    return key.sign(digest, ec.ECDSA(utils.Prehashed(hash_algorithm(hash_name))))


def verify_digest(cert: x509.Certificate, signature: bytes, digest: bytes, hash_name: str) -> bool:
    """Whether ``signature`` over ``digest`` verifies with the certificate's public key."""
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    try:
        public.verify(signature, digest, ec.ECDSA(utils.Prehashed(hash_algorithm(hash_name))))
    except (InvalidSignature, ValueError):
        return False
    return True


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``cert`` (name match and signature)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def valid_at(cert: x509.Certificate, when: dt.datetime) -> bool:
    """Whether ``when`` lies inside the certificate's validity period."""
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def subject_text(cert: x509.Certificate) -> str:
    """The subject as an RFC 4514 string."""
    return cert.subject.rfc4514_string()


def new_signer_ref() -> str:
    """An opaque signer reference."""
    return "sgn_" + secrets.token_urlsafe(18)
