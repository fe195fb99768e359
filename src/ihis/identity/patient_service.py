"""Patients (患者): sign-up with an SMS code, sign-in by password or code, password reset, profile.

Secrets are checked the way ``auth_service`` checks staff secrets: a wrong password or code raises
``SecretRejected`` (``PatientSecretRejected`` when an SMS code row must also be charged); the API
lets its unit of work roll back and then records the failure in units of its own. Unknown phone,
wrong password, wrong code and a disabled account all get the same answer.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from ihis.identity import sessions, throttle
from ihis.identity.access import Actor
from ihis.identity.auth_service import FailedAttempt, LoginFailed, SecretRejected, anonymous_context
from ihis.identity.models import UserAccount
from ihis.identity.passwords import check_password_policy, hash_password, needs_rehash, verify_password
from ihis.identity.sms_codes import CodePurpose, CodeRejected, consume_code, phone_index
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, IhisError, InvalidInput, Unauthenticated
from ihis.settings import Settings
from ihis.tenancy.models import Institution

PATIENT_PASSWORD_MIN_LENGTH = 8


class PatientSecretRejected(SecretRejected):
    """A rejected sign-in whose SMS code row (``code_id``) must also be charged one attempt."""

    def __init__(self, attempt: FailedAttempt, public: IhisError, code_id: int | None) -> None:
        super().__init__(attempt, public)
        self.code_id = code_id


def patient_principal(institution_id: int, phone: str) -> str:
    return throttle.principal_key(institution_id, "patient", phone)


def check_patient_password_policy(password: str, *, field: str, phone: str) -> None:
    """Patients: >= 8 characters with both letters and digits, not the phone number."""
    check_password_policy(password, field=field, phone=phone, min_length=PATIENT_PASSWORD_MIN_LENGTH)
    if not any(c.isascii() and c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        raise InvalidInput.field(
            field, "password_too_simple", "密码需同时包含字母和数字", "Use both letters and digits"
        )


def _login_failed(by_code: bool) -> LoginFailed:
    if by_code:
        return LoginFailed("手机号或验证码错误", "Incorrect phone number or code")
    return LoginFailed("手机号或密码错误", "Incorrect phone number or password")


def _find_patient(db: Session, institution_id: int, phone: str) -> UserAccount | None:
    return db.scalar(
        select(UserAccount).where(
            UserAccount.institution_id == institution_id,
            UserAccount.kind == "patient",
            UserAccount.phone_bidx == phone_index(phone),
        )
    )


def _attempt(
    institution: Institution,
    phone: str,
    account: UserAccount | None,
    ip: str | None,
    ua: str | None,
    reason: str,
) -> FailedAttempt:
    return FailedAttempt(
        institution.id,
        patient_principal(institution.id, phone),
        "auth.login",
        anonymous_context(institution.id, account, ip, ua),
        account.id if account else None,
        reason,
    )


# --- sign-up ----------------------------------------------------------------------------------


def register_patient(
    db: Session,
    settings: Settings,
    institution: Institution,
    *,
    phone: str,
    code: str,
    password: str,
    display_name: str | None,
    ip: str | None,
    user_agent: str | None,
) -> UserAccount:
    """Create a patient account for a phone proven by a ``register`` code (raises ``CodeRejected``)."""
    # Policy first: a typo in the password must not burn the code.
    check_patient_password_policy(password, field="body.password", phone=phone)
    consume_code(db, settings, institution.id, phone, CodePurpose.REGISTER, code)
    now = utcnow()
    account = UserAccount(
        institution_id=institution.id,
        kind="patient",
        status="active",
        display_name=display_name or f"用户{phone[-4:]}",
        phone=phone,
        phone_bidx=phone_index(phone),
        password_hash=hash_password(password),
        password_changed_at=now,
        must_change_password=False,
    )
    try:
        with db.begin_nested():
            db.add(account)
            db.flush()
    except IntegrityError:
        # Only reachable by a concurrent sign-up of the same phone: both proved they hold it.
        raise Conflict("该手机号已注册，请直接登录", "This phone is already registered; sign in") from None
    audit.record(
        db,
        anonymous_context(institution.id, account, ip, user_agent),
        "patient.register",
        resource_type="user_account",
        resource_id=account.id,
    )
    return account


# --- sign-in ----------------------------------------------------------------------------------


def check_patient_password(
    db: Session,
    settings: Settings,
    institution: Institution,
    phone: str,
    password: str,
    *,
    ip: str | None,
    user_agent: str | None,
) -> UserAccount:
    """The active patient account these credentials open (run in a read unit: argon2 is slow)."""
    throttle.check_login_allowed(db, settings, patient_principal(institution.id, phone), ip)
    account = _find_patient(db, institution.id, phone)
    password_ok = verify_password(account.password_hash if account else None, password)
    if account is None or not password_ok or account.status != "active":
        reason = "bad_credentials" if account is None or not password_ok else f"account_{account.status}"
        raise SecretRejected(
            _attempt(institution, phone, account, ip, user_agent, reason), _login_failed(False)
        )
    return account


def check_patient_code(
    db: Session,
    settings: Settings,
    institution: Institution,
    phone: str,
    code: str,
    *,
    ip: str | None,
    user_agent: str | None,
) -> UserAccount:
    """Use up a ``login`` code and return the active account it opens."""
    throttle.check_login_allowed(db, settings, patient_principal(institution.id, phone), ip)
    account = _find_patient(db, institution.id, phone)
    try:
        consume_code(db, settings, institution.id, phone, CodePurpose.LOGIN, code)
    except CodeRejected as rejected:
        attempt = _attempt(institution, phone, account, ip, user_agent, "bad_code")
        raise PatientSecretRejected(attempt, _login_failed(True), rejected.code_id) from None
    if account is None or account.status != "active":
        reason = "no_account" if account is None else f"account_{account.status}"
        attempt = _attempt(institution, phone, account, ip, user_agent, reason)
        raise PatientSecretRejected(attempt, _login_failed(True), None)
    return account


def open_patient_session(
    db: Session,
    settings: Settings,
    account_id: int,
    *,
    password: str | None,
    checked_hash: str | None,
    channel: str,
    ip: str | None,
    user_agent: str | None,
) -> tuple[UserAccount, sessions.IssuedSession]:
    """Sign a checked patient in: a full session (patients have no second factor).

    ``checked_hash`` is the password hash the password was verified against (None for an SMS
    code): a password changed since the check does not open a session.
    """
    values: dict[str, object] = {"last_login_at": utcnow()}
    if password is not None and checked_hash and needs_rehash(checked_hash):
        values["password_hash"] = hash_password(password)
    guard = update(UserAccount).where(UserAccount.id == account_id, UserAccount.status == "active")
    if password is not None:
        guard = guard.where(UserAccount.password_hash == checked_hash)
    if not db.execute(guard.values(**values)).rowcount:  # type: ignore[attr-defined]
        raise Unauthenticated("账号状态已变化，请重新登录", "The account changed; sign in again")
    account = db.scalar(
        select(UserAccount).options(undefer(UserAccount.phone)).where(UserAccount.id == account_id)
    )
    assert account is not None
    phone = account.phone or ""
    throttle.clear_login_failures(db, patient_principal(account.institution_id, phone))
    issued = sessions.issue_session(
        db, account, settings, channel=channel, ip=ip, user_agent=user_agent, mfa_verified=True
    )
    audit.record(
        db,
        anonymous_context(account.institution_id, account, ip, user_agent),
        "auth.login",
        resource_type="auth_session",
        resource_id=issued.session_id,
        detail={"channel": channel, "method": "password" if password is not None else "sms_code"},
    )
    return account, issued


# --- password reset ---------------------------------------------------------------------------


def reset_password(
    db: Session,
    settings: Settings,
    institution: Institution,
    *,
    phone: str,
    code: str,
    new_password: str,
    ip: str | None,
    user_agent: str | None,
) -> UserAccount:
    """Set a new password for the phone proven by a ``reset`` code; every session is signed out."""
    check_patient_password_policy(new_password, field="body.new_password", phone=phone)
    consume_code(db, settings, institution.id, phone, CodePurpose.RESET, code)
    account = _find_patient(db, institution.id, phone)
    if account is None:  # no genuine reset code is ever sent to an unknown phone
        raise CodeRejected(None)
    db.execute(
        update(UserAccount)
        .where(UserAccount.id == account.id)
        .values(
            password_hash=hash_password(new_password),
            password_changed_at=utcnow(),
            must_change_password=False,
        )
    )
    revoked = sessions.revoke_all_for_user(db, account.id, "password_reset")
    # Proving the phone lifts a lockout on it.
    throttle.clear_login_failures(db, patient_principal(institution.id, phone))
    audit.record(
        db,
        anonymous_context(institution.id, account, ip, user_agent),
        "auth.password_reset",
        resource_type="user_account",
        resource_id=account.id,
        detail={"sessions_revoked": revoked},
    )
    return account


# --- profile ----------------------------------------------------------------------------------


def load_profile(db: Session, actor: Actor) -> UserAccount:
    """The calling patient's own account, phone included."""
    account = db.scalar(
        select(UserAccount)
        .options(undefer(UserAccount.phone))
        .where(
            UserAccount.id == actor.user_id,
            UserAccount.institution_id == actor.institution_id,
            UserAccount.kind == "patient",
        )
    )
    if account is None:
        raise Unauthenticated()
    return account


def rename(db: Session, actor: Actor, display_name: str) -> UserAccount:
    """Change the patient's display name (their own nickname, not a verified name)."""
    db.execute(
        update(UserAccount)
        .where(UserAccount.id == actor.user_id, UserAccount.institution_id == actor.institution_id)
        .values(display_name=display_name)
    )
    audit.record(
        db, actor.audit(), "patient.profile.update", resource_type="user_account", resource_id=actor.user_id
    )
    account = load_profile(db, actor)
    db.refresh(account)
    return account
