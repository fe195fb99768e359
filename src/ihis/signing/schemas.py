"""Request and response models of the signing endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ihis.signing.models import SigningCredential
from ihis.signing.report import VerificationReport


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SigningPinIn(_In):
    """First PIN (``old_pin`` absent) or a change (``old_pin`` required)."""

    new_pin: str = Field(min_length=1, max_length=64)
    old_pin: str | None = Field(default=None, max_length=64)
    # "seal": the PIN of the hospital seal the caller keeps.
    purpose: Literal["personal", "seal"] = "personal"


class EnrolIn(_In):
    """What to enrol: the person's own signer, or the hospital seal with the person as its keeper."""

    purpose: Literal["personal", "seal"] = "personal"


class SigningCertificateOut(BaseModel):
    """The caller's signing certificate: status and the certificate's facts (no key material)."""

    status: str  # not_enrolled | pending_pin | active
    purpose: str = "personal"
    signer_kind: str | None = None
    subject: str | None = None
    serial: str | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    locked_until: dt.datetime | None = None

    @classmethod
    def of(cls, cred: SigningCredential | None, purpose: str = "personal") -> SigningCertificateOut:
        if cred is None:
            return cls(status="not_enrolled", purpose=purpose)
        return cls(
            status=cred.status,
            purpose=cred.purpose,
            signer_kind=cred.signer_kind,
            subject=cred.subject,
            serial=cred.certificate_serial,
            not_before=cred.not_before,
            not_after=cred.not_after,
            locked_until=cred.locked_until,
        )


class EnrolmentOut(BaseModel):
    """A new enrolment: the person sets the PIN next."""

    credential_id: int
    user_id: int
    purpose: str
    signer_kind: str
    status: str


class CheckOut(BaseModel):
    name: str
    ok: bool
    code: str
    message_zh: str
    message_en: str


class PublicVerificationOut(BaseModel):
    """The report without personal data (for the QR code's public page)."""

    valid: bool
    failures: list[str]
    kind: str
    version: int
    digest_algorithm: str
    digest_hex: str
    signature_algorithm: str
    signed_at: dt.datetime
    timestamped_at: dt.datetime | None
    tsa_subject: str | None
    checks: list[CheckOut]

    @classmethod
    def of(cls, report: VerificationReport) -> PublicVerificationOut:
        return cls(**_common(report))


class VerificationOut(PublicVerificationOut):
    """The full report for staff: adds the document, reference, signer and certificate."""

    document_id: int
    ref_id: str
    signer_id: int
    certificate_serial: str
    certificate_subject: str | None

    @classmethod
    def of(cls, report: VerificationReport) -> VerificationOut:
        return cls(
            **_common(report),
            document_id=report.document_id,
            ref_id=report.ref_id,
            signer_id=report.signer_id,
            certificate_serial=report.certificate_serial,
            certificate_subject=report.certificate_subject,
        )


def _common(report: VerificationReport) -> dict[str, object]:
    return {
        "valid": report.valid,
        "failures": report.failures,
        "kind": report.kind,
        "version": report.version,
        "digest_algorithm": report.digest_algorithm,
        "digest_hex": report.digest_hex,
        "signature_algorithm": report.signature_algorithm,
        "signed_at": report.signed_at,
        "timestamped_at": report.timestamped_at,
        "tsa_subject": report.tsa_subject,
        "checks": [
            CheckOut(name=c.name, ok=c.ok, code=c.code, message_zh=c.message_zh, message_en=c.message_en)
            for c in report.checks
        ],
    }
