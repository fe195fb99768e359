"""Verification of RFC 3161 time-stamp tokens with asn1crypto + cryptography.

Checks, in order, each with a stable code: the token parses as CMS SignedData holding a TSTInfo;
its message imprint equals the expected bytes; the signed attributes' messageDigest equals the hash
of the TSTInfo; the signature over the signed attributes verifies with the TSA certificate's key;
the TSA certificate carries the timeStamping EKU, chains to the trusted root and was valid at genTime.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from asn1crypto import cms, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ihis.integrations.ca import pki
from ihis.integrations.tsa.client import SM3_OID


@dataclass(frozen=True)
class TokenCheck:
    """The outcome: ``code`` None when valid, else a stable failure code; genTime when readable."""

    code: str | None
    gen_time: dt.datetime | None = None
    tsa_subject: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is None


def _hash(name: str) -> hashes.HashAlgorithm:
    table: dict[str, hashes.HashAlgorithm] = {
        "sha256": hashes.SHA256(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
        SM3_OID: hashes.SM3(),
        "sm3": hashes.SM3(),
    }
    return table[name]


def _digest(name: str, data: bytes) -> bytes:
    h = hashes.Hash(_hash(name))
    h.update(data)
    return h.finalize()


def _tsa_certificate(signed: cms.SignedData, signer: cms.SignerInfo) -> x509.Certificate | None:
    sid = signer["sid"]
    for choice in signed["certificates"] or []:
        cert = choice.chosen
        if not isinstance(cert, asn1_x509.Certificate):
            continue
        if sid.name == "issuer_and_serial_number":
            if (
                cert.serial_number == sid.chosen["serial_number"].native
                and cert.issuer == sid.chosen["issuer"]
            ):
                return x509.load_der_x509_certificate(cert.dump())
        elif cert.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(cert.dump())
    return None


def _signature_ok(cert: x509.Certificate, signer: cms.SignerInfo, digest_name: str) -> bool:
    # RFC 5652 §5.4: the signature covers the DER of the signed attributes as an explicit SET OF.
    signed_attrs = signer["signed_attrs"].dump()
    data = b"\x31" + signed_attrs[1:]
    signature = signer["signature"].native
    public = cert.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(_hash(digest_name)))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), _hash(digest_name))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_token(token_der: bytes, expected_imprint: bytes, trusted_root_pem: str) -> TokenCheck:
    """Check a time-stamp token over ``expected_imprint`` against the trusted root."""
    try:
        content = cms.ContentInfo.load(token_der)
        signed = content["content"]
        info: tsp.TSTInfo = signed["encap_content_info"]["content"].parsed
        tst_der = signed["encap_content_info"]["content"].contents
        signer = signed["signer_infos"][0]
        gen_time: dt.datetime = info["gen_time"].native
        imprint = info["message_imprint"]["hashed_message"].native
        digest_name = signer["digest_algorithm"]["algorithm"].native
        attrs = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return TokenCheck("tsa_token_malformed")
    if imprint != expected_imprint:
        return TokenCheck("tsa_imprint_mismatch", gen_time)
    try:
        matches = attrs.get("message_digest") == _digest(digest_name, tst_der)
    except KeyError:
        return TokenCheck("tsa_token_malformed", gen_time)
    cert = _tsa_certificate(signed, signer)
    if cert is None:
        return TokenCheck("tsa_certificate_missing", gen_time)
    subject = pki.subject_text(cert)
    if not matches or not _signature_ok(cert, signer, digest_name):
        return TokenCheck("tsa_signature_invalid", gen_time, subject)
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        stamping = ExtendedKeyUsageOID.TIME_STAMPING in list(eku)
    except x509.ExtensionNotFound:
        stamping = False
    if not stamping:
        return TokenCheck("tsa_certificate_not_for_timestamping", gen_time, subject)
    if not pki.issued_by(cert, pki.load_cert(trusted_root_pem)):
        return TokenCheck("tsa_certificate_untrusted", gen_time, subject)
    if not pki.valid_at(cert, gen_time):
        return TokenCheck("tsa_certificate_expired", gen_time, subject)
    return TokenCheck(None, gen_time, subject)
