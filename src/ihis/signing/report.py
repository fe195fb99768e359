"""The verification report: four checks, each passed or failed with a stable code and zh/en text.

Codes are part of the API (docs/signing.md §5); never renumber or reuse them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

CONTENT: Final = "content"
SIGNATURE: Final = "signature"
CERTIFICATE: Final = "certificate"
TIMESTAMP: Final = "timestamp"
CHECKS: Final = (CONTENT, SIGNATURE, CERTIFICATE, TIMESTAMP)

# code -> (zh-CN, en)
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "ok": ("通过", "Passed"),
    "digest_mismatch": (
        "存储的内容与签名时的摘要不一致，内容已被改动",
        "The stored content does not match the signed digest: the content was changed",
    ),
    "digest_algorithm_unknown": ("摘要算法不受支持", "Unsupported digest algorithm"),
    "signature_malformed": ("签名值无法解析", "The signature value cannot be read"),
    "signature_invalid": (
        "签名值无法用证书公钥验证（签名或证书被替换）",
        "The signature does not verify with the certificate's public key (signature or certificate replaced)",
    ),
    "certificate_malformed": ("签名证书无法解析", "The signer certificate cannot be read"),
    "certificate_serial_mismatch": (
        "签名证书与签名时登记的证书序列号不一致",
        "The signer certificate is not the one recorded at signing (serial number differs)",
    ),
    "certificate_untrusted": (
        "签名证书不是由受信任的 CA 签发",
        "The signer certificate was not issued by the trusted CA",
    ),
    "certificate_not_valid_at_signing": (
        "签名时签名证书不在有效期内",
        "The signer certificate was not valid at the time of signing",
    ),
    "certificate_not_for_signing": (
        "证书不允许用于数字签名",
        "The certificate is not allowed for digital signatures",
    ),
    "tsa_token_malformed": ("时间戳无法解析", "The time-stamp token cannot be read"),
    "tsa_imprint_mismatch": (
        "时间戳不是对本签名加盖的",
        "The time stamp was not issued for this signature (message imprint differs)",
    ),
    "tsa_signature_invalid": ("时间戳签名无效", "The time-stamp signature is invalid"),
    "tsa_certificate_missing": ("时间戳中缺少 TSA 证书", "The time-stamp token lacks the TSA certificate"),
    "tsa_certificate_not_for_timestamping": (
        "TSA 证书不允许用于时间戳",
        "The TSA certificate lacks the timeStamping extended key usage",
    ),
    "tsa_certificate_untrusted": (
        "TSA 证书不是由受信任的根证书签发",
        "The TSA certificate does not chain to the trusted root",
    ),
    "tsa_certificate_expired": (
        "加盖时间戳时 TSA 证书不在有效期内",
        "The TSA certificate was not valid at the time stamp's time",
    ),
    "tsa_time_mismatch": (
        "时间戳时间与记录的签名时间不一致",
        "The time stamp's time differs from the recorded time stamp",
    ),
}


@dataclass(frozen=True)
class Check:
    """One of the four checks."""

    name: str
    ok: bool
    code: str

    @property
    def message_zh(self) -> str:
        return MESSAGES[self.code][0]

    @property
    def message_en(self) -> str:
        return MESSAGES[self.code][1]


@dataclass(frozen=True)
class VerificationReport:
    """Everything ``verify`` found about one signed document (``valid`` only if all four passed)."""

    document_id: int
    kind: str
    ref_id: str
    version: int
    digest_algorithm: str
    digest_hex: str
    signature_algorithm: str
    signed_at: dt.datetime
    timestamped_at: dt.datetime | None
    certificate_serial: str
    certificate_subject: str | None
    tsa_subject: str | None
    signer_id: int
    checks: list[Check] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return len(self.checks) == len(CHECKS) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[str]:
        """The failed checks' codes (empty when valid)."""
        return [c.code for c in self.checks if not c.ok]


def describe(report: VerificationReport) -> str:
    """The report as text lines (``ihis verify``): a verdict, then each check with code and reason."""
    stamped = report.timestamped_at.isoformat() if report.timestamped_at else "-"
    verdict = "VALID 验证通过" if report.valid else "INVALID 验证失败: " + ", ".join(report.failures)
    lines = [
        f"signed document {report.document_id}: {report.kind} {report.ref_id} v{report.version}",
        f"digest {report.digest_algorithm} {report.digest_hex}",
        f"signature {report.signature_algorithm}, certificate serial {report.certificate_serial}",
        f"subject {report.certificate_subject or '-'}",
        f"signed at {report.signed_at.isoformat()}, time stamp {stamped} ({report.tsa_subject or '-'})",
    ]
    for check in report.checks:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"  [{mark}] {check.name:<11} {check.code}: {check.message_en} / {check.message_zh}")
    lines.append(verdict)
    return "\n".join(lines)
