"""The staff second factor: TOTP (RFC 6238, pyotp) with QR enrolment, one-time recovery codes, the
verification that completes a half-open session, and step-up re-authentication.

DOMAIN §10 / GB/T 22239 level 3: staff sign in with two factors. Recovery codes carry 50 random
bits each and are stored as keyed hashes (the blind-index key), looked up by hash and spent with a
guarded update, so each works exactly once even under concurrent use.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets
import struct
import time
import zlib
from dataclasses import dataclass

import pyotp
import qrcode
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from ihis.identity import auth_service, sessions, throttle
from ihis.identity.access import Actor
from ihis.identity.models import RecoveryCode, UserAccount
from ihis.identity.passwords import verify_password
from ihis.identity.schemas_auth import NextStep
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.platform.errors import Conflict, Forbidden, InvalidInput
from ihis.settings import Settings
from ihis.tenancy.models import Institution

ISSUER = "IHIS"
RECOVERY_CODE_COUNT = 10
# Crockford-style alphabet without 0/O, 1/I/L: codes are read off paper and typed by hand.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10


def new_totp_secret() -> str:
    """A fresh 160-bit base32 TOTP secret."""
    return str(pyotp.random_base32(32))


def provisioning_uri(secret: str, username: str, institution_name: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (issuer "IHIS <institution>")."""
    issuer = f"{ISSUER} {institution_name}"
    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer))


def verify_totp(secret: str | None, code: str) -> bool:
    """True if ``code`` is the current TOTP (one 30-second step of clock drift either way)."""
    digits = code.strip().replace(" ", "")
    if not secret or len(digits) != 6 or not digits.isdigit():
        return False
    return bool(pyotp.TOTP(secret).verify(digits, valid_window=1))


def looks_like_totp(code: str) -> bool:
    digits = code.strip().replace(" ", "")
    return len(digits) == 6 and digits.isdigit()


def qr_png_data_url(uri: str, *, scale: int = 6, border: int = 4) -> str:
    """The URI as a QR code PNG ``data:`` URL (encoded here: no imaging library needed)."""
    qr = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(uri)
    qr.make(fit=True)
    matrix: list[list[bool]] = qr.get_matrix()
    return "data:image/png;base64," + base64.b64encode(_png(matrix, scale)).decode()


def _png(matrix: list[list[bool]], scale: int) -> bytes:
    """A 1-bit greyscale PNG (dark modules black) of the QR matrix."""
    size = len(matrix) * scale
    rows = bytearray()
    for line in matrix:
        bits = "".join(("0" if dark else "1") * scale for dark in line)
        bits += "0" * (-len(bits) % 8)
        packed = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
        rows += (b"\x00" + packed) * scale

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def _normalise_recovery(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def _recovery_hash(user_id: int, code: str) -> str:
    return blind_index(f"{user_id}:{_normalise_recovery(code)}", "recovery_code")


def issue_recovery_codes(db: Session, user_id: int) -> list[str]:
    """Replace the account's recovery codes with 10 fresh ones, returned once in plain text."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        code = f"{raw[:5]}-{raw[5:]}"
        db.add(RecoveryCode(user_id=user_id, code_hash=_recovery_hash(user_id, code)))
        codes.append(code)
    db.flush()
    return codes


def spend_recovery_code(db: Session, user_id: int, code: str) -> bool:
    """Use one unused recovery code; False if it is unknown or already spent."""
    if len(_normalise_recovery(code)) != _RECOVERY_LENGTH:
        return False
    row_id = db.scalar(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _recovery_hash(user_id, code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row_id is None:
        return False
    spent = db.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return bool(spent.rowcount)  # type: ignore[attr-defined]


def remaining_recovery_codes(db: Session, user_id: int) -> int:
    """How many recovery codes the account still has."""
    unused = select(func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
    )
    return int(db.scalar(unused) or 0)


def clear_second_factor(db: Session, user_id: int) -> None:
    """Forget the recovery codes (an admin MFA reset; the caller clears the TOTP secret)."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def matching_totp_step(secret: str | None, code: str, *, at: float | None = None) -> int | None:
    """The time step (30 s counter) whose TOTP equals ``code``, allowing one step of drift."""
    digits = code.strip().replace(" ", "")
    if not secret or len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    current = totp.timecode(dt.datetime.fromtimestamp(now, tz=dt.UTC))
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def consume_totp(db: Session, user_id: int, secret: str | None, code: str) -> bool:
    """Accept a TOTP code once: its step must be newer than the last accepted one (RFC 6238 §5.2).

    A guarded update records the step, so the same code replayed (even concurrently) fails."""
    step = matching_totp_step(secret, code)
    if step is None:
        return False
    accepted = db.execute(
        update(UserAccount)
        .where(
            UserAccount.id == user_id,
            or_(UserAccount.totp_last_step.is_(None), UserAccount.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return bool(accepted.rowcount)  # type: ignore[attr-defined]


def check_code(db: Session, user_id: int, secret: str | None, code: str) -> str | None:
    """Check a TOTP code or spend a recovery code; the method used ("totp"/"recovery") or None."""
    if looks_like_totp(code):
        return "totp" if consume_totp(db, user_id, secret, code) else None
    return "recovery" if spend_recovery_code(db, user_id, code) else None


# --- enrolment, verification, step-up -------------------------------------------------------


def _require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("仅工作人员可用", "Staff only")


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_png: str


def begin_totp_enrolment(db: Session, settings: Settings, actor: Actor) -> Enrolment:
    """Store a new pending TOTP secret and return what the authenticator app needs."""
    _require_staff(actor)
    account = auth_service.load_account(db, actor)
    if auth_service.totp_enrolled(account):
        # Replacing a working second factor needs the current one (or an administrator's reset).
        auth_service.require_verified(actor)
        sessions.require_recent_step_up(actor, settings)
    secret = new_totp_secret()
    # The account stays enrolled until the new secret is confirmed; its recovery codes keep working.
    db.execute(update(UserAccount).where(UserAccount.id == account.id).values(totp_secret=secret))
    institution = db.get(Institution, account.institution_id)
    assert institution is not None
    uri = provisioning_uri(secret, account.username or str(account.id), institution.name)
    audit.record(db, actor.audit(), "auth.mfa_enrol", resource_type="user_account", resource_id=account.id)
    return Enrolment(secret, uri, qr_png_data_url(uri))


def confirm_totp_enrolment(
    db: Session, settings: Settings, actor: Actor, code: str
) -> tuple[list[str], NextStep]:
    """Enable the pending TOTP secret on a correct code; 10 fresh recovery codes, shown once."""
    _require_staff(actor)
    account = auth_service.load_account(db, actor)
    if auth_service.totp_enrolled(account):
        auth_service.require_verified(actor)
        sessions.require_recent_step_up(actor, settings)
    if not account.totp_secret:
        raise Conflict("请先开始绑定身份验证器", "Start the authenticator enrolment first")
    # A typo while enrolling guesses nothing: it is a field error, not a login failure.
    if not consume_totp(db, account.id, account.totp_secret, code):
        raise InvalidInput.field("body.code", "code_wrong", "验证码不正确", "The code is not correct")
    db.execute(update(UserAccount).where(UserAccount.id == account.id).values(totp_enabled_at=utcnow()))
    codes = issue_recovery_codes(db, account.id)
    sessions.mark_mfa_verified(db, actor.session_id)
    audit.record(
        db, actor.audit(), "auth.mfa_enrol_confirm", resource_type="user_account", resource_id=account.id
    )
    db.refresh(account)
    return codes, auth_service.next_step(account, mfa_verified=True)


def _second_factor_attempt(
    actor: Actor, account: UserAccount, action: str, reason: str
) -> auth_service.FailedAttempt:
    return auth_service.FailedAttempt(
        actor.institution_id,
        auth_service.staff_principal(actor.institution_id, account.username or ""),
        action,
        actor.audit(),
        account.id,
        reason,
        session_id=None if actor.mfa_verified else actor.session_id,
    )


def verify_session(db: Session, settings: Settings, actor: Actor, code: str) -> tuple[str, int, NextStep]:
    """Turn a half-open session into a full one with a TOTP or an unused recovery code."""
    _require_staff(actor)
    account = auth_service.load_account(db, actor)
    if not auth_service.totp_enrolled(account):
        raise Conflict("尚未绑定身份验证器", "No authenticator enrolled", extra={"next": "enrol_mfa"})
    principal = auth_service.staff_principal(actor.institution_id, account.username or "")
    throttle.check_login_allowed(db, settings, principal, actor.ip)
    method = check_code(db, account.id, account.totp_secret, code)
    if method is None:
        raise auth_service.SecretRejected(
            _second_factor_attempt(actor, account, "auth.mfa_verify", "bad_code"),
            auth_service.SecondFactorFailed("验证码不正确", "The code is not correct"),
        )
    throttle.clear_login_failures(db, principal)
    sessions.mark_mfa_verified(db, actor.session_id)
    audit.record(
        db,
        actor.audit(),
        "auth.mfa_verify",
        resource_type="auth_session",
        resource_id=actor.session_id,
        detail={"method": method},
    )
    return (
        method,
        remaining_recovery_codes(db, account.id),
        auth_service.next_step(account, mfa_verified=True),
    )


def step_up(db: Session, settings: Settings, actor: Actor, password: str, code: str) -> dt.datetime:
    """Re-authenticate with password and second factor; sensitive actions open for a few minutes."""
    _require_staff(actor)
    account = auth_service.load_account(db, actor)
    principal = auth_service.staff_principal(actor.institution_id, account.username or "")
    throttle.check_login_allowed(db, settings, principal, actor.ip)
    password_ok = verify_password(account.password_hash, password)
    # Spend a recovery code only when the password was right.
    method = check_code(db, account.id, account.totp_secret, code) if password_ok else None
    if method is None:
        raise auth_service.SecretRejected(
            _second_factor_attempt(
                actor, account, "auth.step_up", "bad_password" if not password_ok else "bad_code"
            ),
            auth_service.SecondFactorFailed("密码或验证码不正确", "Incorrect password or code"),
        )
    throttle.clear_login_failures(db, principal)
    sessions.mark_step_up(db, actor.session_id)
    audit.record(
        db,
        actor.audit(),
        "auth.step_up",
        resource_type="auth_session",
        resource_id=actor.session_id,
        detail={"method": method},
    )
    return utcnow() + dt.timedelta(minutes=settings.step_up_minutes)
