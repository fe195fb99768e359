"""SMS verification codes (短信验证码) for patient registration, sign-in and password reset.

Issue 2 §3: 6 random digits, valid 5 minutes, single use, dead after ``sms_code_max_attempts``
wrong tries; per-phone interval (60 s) and daily cap, per-IP hourly cap (429 + Retry-After).
Codes are stored as a keyed hash (HMAC with the secret key and a per-code salt): six digits
are too few for a plain hash to protect them from someone who can read the table.

Account existence is never revealed: asking for a ``register`` code for a registered phone, or
a ``login``/``reset`` code for an unknown one, answers exactly like a real request, counts
against the same limits and stores a dead code row; the phone receives a neutral notice instead
of a code (only its owner learns anything).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ihis.identity.models import SmsCode, UserAccount
from ihis.integrations.sms.service import queue_sms
from ihis.integrations.sms.templates import SmsTemplate
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.platform.db import Database
from ihis.platform.errors import InvalidInput, RateLimited
from ihis.settings import Settings

CODE_DIGITS = 6
IP_WINDOW = dt.timedelta(hours=1)

_NOTICE_REGISTERED = "您的手机号已注册互联网医院账号，可直接登录；如忘记密码，请使用“找回密码”。"
_NOTICE_UNREGISTERED = "您的手机号尚未注册互联网医院账号，如需使用请先注册。"


class CodePurpose(StrEnum):
    REGISTER = "register"
    LOGIN = "login"
    RESET = "reset"


_TEMPLATES = {
    CodePurpose.REGISTER: SmsTemplate.REGISTER_CODE,
    CodePurpose.LOGIN: SmsTemplate.LOGIN_CODE,
    CodePurpose.RESET: SmsTemplate.RESET_CODE,
}


def phone_index(phone: str) -> str:
    """The blind index of a mainland mobile number (the same one ``UserAccount.phone_bidx`` uses)."""
    return blind_index(phone, "phone")


def _code_hash(settings: Settings, phone_bidx: str, purpose: str, code: str, salt: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    mac = hmac.new(key, f"sms-code:{salt}:{phone_bidx}:{purpose}:{code}".encode(), hashlib.sha256)
    return f"{salt}${mac.hexdigest()}"


def _matches(settings: Settings, row: SmsCode, code: str) -> bool:
    salt = row.code_hash.split("$", 1)[0]
    expected = _code_hash(settings, row.phone_bidx, row.purpose, code, salt)
    return hmac.compare_digest(expected.encode(), row.code_hash.encode())


def _serialise_phone(db: Session, phone_bidx: str) -> None:
    """Serialise concurrent requests for one phone so the limits hold under a burst.

    SQLite writing transactions are already serial (BEGIN IMMEDIATE); PostgreSQL takes a
    transaction-scoped advisory lock keyed by the phone's blind index.
    """
    if db.get_bind().dialect.name == "postgresql":
        key = int(phone_bidx[:15], 16)  # 60 bits: fits a signed bigint
        db.execute(select(func.pg_advisory_xact_lock(key)))


def _seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)


def _local_midnight_after(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(HOSPITAL_TZ)
    return dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), HOSPITAL_TZ)


def _check_send_limits(
    db: Session, settings: Settings, phone_bidx: str, ip: str | None, now: dt.datetime
) -> None:
    last = db.scalar(select(func.max(SmsCode.created_at)).where(SmsCode.phone_bidx == phone_bidx))
    if last is not None:
        last = last if last.tzinfo else last.replace(tzinfo=dt.UTC)  # SQLite aggregates are naive
        next_allowed = last + dt.timedelta(seconds=settings.sms_send_interval_seconds)
        if next_allowed > now:
            raise RateLimited(
                _seconds_until(next_allowed, now),
                "验证码发送过于频繁，请稍后再试",
                "Wait before asking for another code",
            )
    local_midnight = _local_midnight_after(now) - dt.timedelta(days=1)
    today = db.scalar(
        select(func.count(SmsCode.id)).where(
            SmsCode.phone_bidx == phone_bidx, SmsCode.created_at >= local_midnight
        )
    )
    if (today or 0) >= settings.sms_send_per_phone_per_day:
        raise RateLimited(
            _seconds_until(_local_midnight_after(now), now),
            "该手机号今日验证码发送次数已达上限",
            "This phone has reached today's limit of codes",
        )
    if ip is None:
        return
    since = now - IP_WINDOW
    count, oldest = db.execute(
        select(func.count(SmsCode.id), func.min(SmsCode.created_at)).where(
            SmsCode.ip == ip, SmsCode.created_at > since
        )
    ).one()
    if count >= settings.sms_send_per_ip_per_hour and oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
        raise RateLimited(
            _seconds_until(oldest + IP_WINDOW, now),
            "请求过于频繁，请稍后再试",
            "Too many codes from this network",
        )


def _account_exists(db: Session, institution_id: int, phone_bidx: str) -> bool:
    found = db.scalar(
        select(UserAccount.id).where(
            UserAccount.institution_id == institution_id,
            UserAccount.kind == "patient",
            UserAccount.phone_bidx == phone_bidx,
        )
    )
    return found is not None


@dataclass(frozen=True)
class CodeRequested:
    """What the caller is told, identical whether or not a code was really sent."""

    interval_seconds: int
    expires_in_seconds: int


def request_code(
    db: Session, settings: Settings, institution_id: int, phone: str, purpose: CodePurpose, ip: str | None
) -> CodeRequested:
    """Issue a code (or, to hide account existence, a dead row and a neutral notice)."""
    phone_bidx = phone_index(phone)
    _serialise_phone(db, phone_bidx)
    now = utcnow()
    _check_send_limits(db, settings, phone_bidx, ip, now)
    exists = _account_exists(db, institution_id, phone_bidx)
    genuine = exists if purpose is not CodePurpose.REGISTER else not exists
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    db.add(
        SmsCode(
            institution_id=institution_id,
            phone_bidx=phone_bidx,
            purpose=purpose.value,
            code_hash=_code_hash(settings, phone_bidx, purpose.value, code, secrets.token_hex(8)),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=settings.sms_code_ttl_seconds),
            # A row that was never sent is born dead: no guess can ever match it.
            attempts=0 if genuine else settings.sms_code_max_attempts,
            ip=ip,
        )
    )
    db.flush()
    if genuine:
        queue_sms(db, institution_id, phone, _TEMPLATES[purpose], {"code": code})
    else:
        notice = _NOTICE_REGISTERED if exists else _NOTICE_UNREGISTERED
        queue_sms(db, institution_id, phone, SmsTemplate.NOTICE, {"content": notice})
    return CodeRequested(settings.sms_send_interval_seconds, settings.sms_code_ttl_seconds)


class CodeRejected(Exception):
    """A wrong, expired, used or dead code; ``code_id`` is the row whose attempt counter to bump."""

    def __init__(self, code_id: int | None) -> None:
        super().__init__("sms code rejected")
        self.code_id = code_id


def invalid_code_error() -> InvalidInput:
    return InvalidInput.field(
        "body.code", "sms_code_invalid", "验证码错误或已失效", "The code is wrong or no longer valid"
    )


def consume_code(
    db: Session, settings: Settings, institution_id: int, phone: str, purpose: CodePurpose, code: str
) -> None:
    """Use up the newest code of this phone and purpose if ``code`` matches; else ``CodeRejected``.

    Only the newest code counts: asking for a new one retires the previous. The caller lets its
    unit of work roll back and then calls ``record_wrong_code`` so the attempt is still counted.
    """
    phone_bidx = phone_index(phone)
    row = db.scalar(
        select(SmsCode)
        .where(
            SmsCode.institution_id == institution_id,
            SmsCode.phone_bidx == phone_bidx,
            SmsCode.purpose == purpose.value,
        )
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc())
        .limit(1)
    )
    if row is None:
        raise CodeRejected(None)
    now = utcnow()
    usable = (
        row.consumed_at is None and row.attempts < settings.sms_code_max_attempts and row.expires_at > now
    )
    if not usable:
        raise CodeRejected(None)
    if not _matches(settings, row, code):
        raise CodeRejected(row.id)
    # Guarded: two requests racing with the same code cannot both use it.
    used = db.execute(
        update(SmsCode)
        .where(
            SmsCode.id == row.id,
            SmsCode.consumed_at.is_(None),
            SmsCode.attempts < settings.sms_code_max_attempts,
            SmsCode.expires_at > now,
        )
        .values(consumed_at=now)
    )
    if not used.rowcount:  # type: ignore[attr-defined]
        raise CodeRejected(None)


def record_wrong_code(database: Database, settings: Settings, code_id: int | None) -> None:
    """Count one wrong guess against a code, in a unit of work of its own (after the rollback)."""
    if code_id is None:
        return
    with database.unit_of_work(write=True) as db:
        db.execute(
            update(SmsCode)
            .where(
                SmsCode.id == code_id,
                SmsCode.consumed_at.is_(None),
                SmsCode.attempts < settings.sms_code_max_attempts,
            )
            .values(attempts=SmsCode.attempts + 1)
        )
