"""``verify``: re-check a stored signed document (content digest, signature, certificate, time stamp).

Trust anchors: ``IHIS_CA_ROOT_CERT_PEM`` / ``IHIS_TSA_ROOT_CERT_PEM``; in sandbox mode, when they are
not set, the sandbox root (read from its table: the sandbox CA and TSA chain to it). Certificate
validity is judged at the time-stamp's genTime (trusted time), else at the recorded signing time.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac

from cryptography import x509
from sqlalchemy.orm import Session

from ihis.integrations.ca import authority, pki
from ihis.integrations.ca.config import signing_settings
from ihis.integrations.tsa.verify import verify_token
from ihis.platform.errors import Unavailable
from ihis.settings import Settings
from ihis.signing import canonical
from ihis.signing.models import SignedDocument
from ihis.signing.report import CERTIFICATE, CONTENT, SIGNATURE, TIMESTAMP, Check, VerificationReport

# A stored genTime and the token's may differ by the database's time precision only.
TIME_TOLERANCE = dt.timedelta(seconds=1)


def trust_anchors(db: Session, settings: Settings) -> tuple[str, str]:
    """(CA root PEM, TSA root PEM) to verify against."""
    conf = signing_settings(settings)
    ca_root, tsa_root = conf.ca_root_cert_pem, conf.tsa_root_cert_pem
    if settings.sandbox and (not ca_root or not tsa_root):
        sandbox_root = authority.root(db).cert_pem
        ca_root, tsa_root = ca_root or sandbox_root, tsa_root or sandbox_root
    if not ca_root or not tsa_root:
        raise Unavailable(
            "签名验证未配置信任根证书", "No trusted root certificates configured for verification"
        )
    return ca_root, tsa_root


def _content_check(doc: SignedDocument) -> Check:
    if doc.digest_algorithm not in ("sha256", "sm3"):
        return Check(CONTENT, False, "digest_algorithm_unknown")
    recomputed = canonical.digest(doc.digest_algorithm, doc.content.encode("utf-8")).hex()
    if not hmac.compare_digest(recomputed, doc.digest_hex):
        return Check(CONTENT, False, "digest_mismatch")
    return Check(CONTENT, True, "ok")


def _signing_usage(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.digital_signature or usage.content_commitment


def _certificate_check(
    cert: x509.Certificate | None, doc: SignedDocument, root: str, at: dt.datetime
) -> Check:
    if cert is None:
        return Check(CERTIFICATE, False, "certificate_malformed")
    if format(cert.serial_number, "x") != doc.certificate_serial:
        return Check(CERTIFICATE, False, "certificate_serial_mismatch")
    if not pki.issued_by(cert, pki.load_cert(root)):
        return Check(CERTIFICATE, False, "certificate_untrusted")
    if not pki.valid_at(cert, at):
        return Check(CERTIFICATE, False, "certificate_not_valid_at_signing")
    if not _signing_usage(cert):
        return Check(CERTIFICATE, False, "certificate_not_for_signing")
    return Check(CERTIFICATE, True, "ok")


def verify_document(db: Session, doc: SignedDocument, settings: Settings) -> VerificationReport:
    """Run all four checks on ``doc`` (never raises for a bad document: the report says what failed)."""
    ca_root, tsa_root = trust_anchors(db, settings)
    try:
        cert: x509.Certificate | None = pki.load_cert(doc.certificate_pem)
    except ValueError:
        cert = None
    try:
        signature = base64.b64decode(doc.signature_b64, validate=True)
    except (binascii.Error, ValueError):
        signature = None
    content = _content_check(doc)
    if signature is None:
        sig_check = Check(SIGNATURE, False, "signature_malformed")
    elif cert is None or doc.digest_algorithm not in ("sha256", "sm3"):
        sig_check = Check(
            SIGNATURE, False, "certificate_malformed" if cert is None else "digest_algorithm_unknown"
        )
    else:
        ok = pki.verify_digest(cert, signature, bytes.fromhex(doc.digest_hex), doc.digest_algorithm)
        sig_check = Check(SIGNATURE, ok, "ok" if ok else "signature_invalid")
    token_check = None
    if signature is not None:
        try:
            token = base64.b64decode(doc.tsa_token_b64, validate=True)
            token_check = verify_token(token, canonical.digest(doc.digest_algorithm, signature), tsa_root)
        except (binascii.Error, ValueError):
            token_check = None
    if token_check is None:
        ts = Check(TIMESTAMP, False, "tsa_token_malformed")
        gen_time = None
    else:
        gen_time = token_check.gen_time
        if not token_check.ok:
            ts = Check(TIMESTAMP, False, token_check.code or "tsa_token_malformed")
        elif gen_time is None or abs(gen_time - doc.timestamped_at) > TIME_TOLERANCE:
            ts = Check(TIMESTAMP, False, "tsa_time_mismatch")
        else:
            ts = Check(TIMESTAMP, True, "ok")
    # The time stamp is trusted time only when it verified; else judge at the recorded time.
    at = gen_time if ts.ok and gen_time is not None else doc.signed_at
    return VerificationReport(
        document_id=doc.id,
        kind=doc.kind,
        ref_id=doc.ref_id,
        version=doc.version,
        digest_algorithm=doc.digest_algorithm,
        digest_hex=doc.digest_hex,
        signature_algorithm=doc.signature_algorithm,
        signed_at=doc.signed_at,
        timestamped_at=gen_time,
        certificate_serial=doc.certificate_serial,
        certificate_subject=pki.subject_text(cert) if cert is not None else None,
        tsa_subject=token_check.tsa_subject if token_check is not None else None,
        signer_id=doc.signer_id,
        checks=[content, sig_check, _certificate_check(cert, doc, ca_root, at), ts],
    )
