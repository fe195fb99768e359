"""Staff sign-in, password change and sign-out (the second factor and step-up: ``mfa``).

A wrong secret (password, TOTP or recovery code) raises ``SecretRejected``. The caller lets its
unit of work roll back, then calls ``record_rejection`` — which counts the failure towards the
lockout and audits it in units of work of its own, so the evidence survives the rollback — and
finally raises the public error the exception carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, undefer

from ihis.identity import sessions, throttle
from ihis.identity.access import Actor
from ihis.identity.models import UserAccount, Visitor
from ihis.identity.passwords import check_password_policy, hash_password, needs_rehash, verify_password
from ihis.identity.schemas_auth import NextStep
from ihis.platform import audit
from ihis.platform.audit import AuditContext
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import IhisError, InvalidInput, NotFound, Unauthenticated
from ihis.settings import Settings
from ihis.tenancy.models import Institution


class LoginFailed(Unauthenticated):
    """One answer for unknown user, wrong password, disabled and pending accounts."""

    code = "login_failed"


class SecondFactorFailed(Unauthenticated):
    code = "second_factor_failed"


def login_failed() -> LoginFailed:
    return LoginFailed("用户名或密码错误", "Incorrect username or password")


@dataclass(frozen=True)
class FailedAttempt:
    """What ``record_rejection`` needs to count and audit one wrong secret."""

    institution_id: int
    principal: str
    action: str
    ctx: AuditContext
    account_id: int | None
    reason: str
    # A half-open session to close if this failure locks the principal.
    session_id: int | None = None


class SecretRejected(Exception):
    """A wrong secret; carries the failure to record and the error to show."""

    def __init__(self, attempt: FailedAttempt, public: IhisError) -> None:
        super().__init__(attempt.reason)
        self.attempt = attempt
        self.public = public


def normalise_username(username: str) -> str:
    """Usernames are stored and matched in lower case."""
    return username.strip().lower()


def staff_principal(institution_id: int, username: str) -> str:
    return throttle.principal_key(institution_id, "staff", normalise_username(username))


def anonymous_context(
    institution_id: int, account: UserAccount | None, ip: str | None, user_agent: str | None
) -> AuditContext:
    """The audit context of a caller who has not signed in yet."""
    return AuditContext(
        actor_id=account.id if account else None,
        actor_role=account.kind if account else "anonymous",
        actor_name=account.display_name if account else None,
        institution_id=institution_id,
        ip=ip,
        user_agent=user_agent,
    )


def totp_enrolled(account: UserAccount) -> bool:
    return account.totp_enabled_at is not None


def next_step(account: UserAccount, mfa_verified: bool) -> NextStep:
    """The next thing a staff member must do before the console opens (patients: always done)."""
    if account.kind != "staff":
        return "done"
    # An enrolled account proves the second factor before anything else: the password alone
    # must not be enough to change the password and lock the owner out.
    if totp_enrolled(account) and not mfa_verified:
        return "mfa"
    if account.must_change_password:
        return "change_password"
    if not totp_enrolled(account):
        return "enrol_mfa"
    return "done"


def load_account(db: Session, actor: Actor) -> UserAccount:
    """The caller's own account, TOTP secret included."""
    account = db.scalar(
        select(UserAccount)
        .options(undefer(UserAccount.totp_secret), undefer(UserAccount.phone))
        .where(UserAccount.id == actor.user_id, UserAccount.institution_id == actor.institution_id)
    )
    if account is None:
        raise Unauthenticated()
    return account


# --- sign-in ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedPassword:
    """An account whose password was verified, and the hash it was verified against."""

    account_id: int
    password_hash: str


def check_staff_password(
    db: Session,
    settings: Settings,
    institution: Institution,
    username: str,
    password: str,
    *,
    ip: str | None,
    user_agent: str | None,
    required_status: str = "active",
) -> CheckedPassword:
    """The staff account in ``required_status`` these credentials open (read unit: argon2 is slow)."""
    principal = staff_principal(institution.id, username)
    throttle.check_login_allowed(db, settings, principal, ip)
    account = db.scalar(
        select(UserAccount).where(
            UserAccount.institution_id == institution.id,
            UserAccount.kind == "staff",
            UserAccount.username == normalise_username(username),
        )
    )
    # verify_password spends one argon2 verification even without an account (equal timing).
    password_ok = verify_password(account.password_hash if account else None, password)
    if account is None or not password_ok or account.status != required_status:
        reason = "bad_credentials" if account is None or not password_ok else f"account_{account.status}"
        raise SecretRejected(
            _login_attempt(institution.id, principal, account, ip, user_agent, reason), login_failed()
        )
    return CheckedPassword(account.id, account.password_hash or "")


def _login_attempt(
    institution_id: int,
    principal: str,
    account: UserAccount | None,
    ip: str | None,
    ua: str | None,
    reason: str,
) -> FailedAttempt:
    ctx = anonymous_context(institution_id, account, ip, ua)
    return FailedAttempt(
        institution_id, principal, "auth.login", ctx, account.id if account else None, reason
    )


@dataclass(frozen=True)
class LoginResult:
    issued: sessions.IssuedSession
    next: NextStep


def open_staff_session(
    db: Session,
    settings: Settings,
    checked: CheckedPassword,
    password: str,
    *,
    channel: str,
    ip: str | None,
    user_agent: str | None,
) -> LoginResult:
    """Open a half-open session for an account whose password was just checked."""
    account = db.get(UserAccount, checked.account_id)
    assert account is not None  # accounts are disabled, never deleted
    principal = staff_principal(account.institution_id, account.username or "")
    values: dict[str, object] = {"last_login_at": utcnow()}
    if needs_rehash(checked.password_hash):
        values["password_hash"] = hash_password(password)
    # Guarded: an account disabled (or re-passworded) since the check does not get a session.
    signed_in = db.execute(
        update(UserAccount)
        .where(
            UserAccount.id == account.id,
            UserAccount.status == "active",
            UserAccount.password_hash == checked.password_hash,
        )
        .values(**values)
    )
    if not signed_in.rowcount:  # type: ignore[attr-defined]
        attempt = _login_attempt(
            account.institution_id, principal, account, ip, user_agent, "account_changed"
        )
        raise SecretRejected(attempt, login_failed())
    throttle.clear_login_failures(db, principal)
    issued = sessions.issue_session(
        db, account, settings, channel=channel, ip=ip, user_agent=user_agent, mfa_verified=False
    )
    step = next_step(account, mfa_verified=False)
    audit.record(
        db,
        anonymous_context(account.institution_id, account, ip, user_agent),
        "auth.login",
        resource_type="auth_session",
        resource_id=issued.session_id,
        detail={"channel": channel, "next": step},
    )
    return LoginResult(issued, step)


def open_application_session(
    db: Session, settings: Settings, checked: CheckedPassword, *, ip: str | None, user_agent: str | None
) -> sessions.IssuedSession:
    """A restricted Bearer session for a ``pending_review`` applicant (own profile only, see
    ``ihis.organization.applicant_sessions``); ordinary sessions refuse pending accounts."""
    account = db.get(UserAccount, checked.account_id)
    assert account is not None
    if account.status != "pending_review":
        raise login_failed()
    throttle.clear_login_failures(db, staff_principal(account.institution_id, account.username or ""))
    issued = sessions.issue_session(
        db, account, settings, channel="application", ip=ip, user_agent=user_agent, mfa_verified=False
    )
    audit.record(
        db,
        anonymous_context(account.institution_id, account, ip, user_agent),
        "auth.application_login",
        resource_type="auth_session",
        resource_id=issued.session_id,
    )
    return issued


def record_rejection(database: Database, settings: Settings, attempt: FailedAttempt) -> None:
    """Count and audit one wrong secret after the request's transaction ended; audit a lockout."""
    throttle.record_login_failure(database, attempt.institution_id, attempt.principal, attempt.ctx.ip)
    audit.record_independent(
        database,
        attempt.ctx,
        attempt.action,
        resource_type="user_account",
        resource_id=attempt.account_id,
        outcome="failure",
        detail={"reason": attempt.reason},
    )
    with database.unit_of_work(write=True) as db:
        if not throttle.is_locked(db, settings, attempt.principal):
            return
        # The failure that locks the principal also closes the half-open session it came from.
        if attempt.session_id is not None:
            sessions.revoke(db, attempt.session_id, "lockout")
        audit.record(
            db,
            attempt.ctx,
            "auth.lockout",
            resource_type="user_account",
            resource_id=attempt.account_id,
            outcome="failure",
            detail={"minutes": settings.lockout_minutes},
        )


# --- password and sign-out --------------------------------------------------------------------


def change_password(
    db: Session, settings: Settings, actor: Actor, current_password: str, new_password: str
) -> tuple[int, NextStep]:
    """Replace the caller's password; clears the first-login flag and ends their other sessions."""
    account = load_account(db, actor)
    if account.kind == "staff" and totp_enrolled(account) and not actor.mfa_verified:
        require_verified(actor)
    identifier = account.username if account.kind == "staff" else account.phone
    principal = throttle.principal_key(actor.institution_id, account.kind, identifier or str(account.id))
    throttle.check_login_allowed(db, settings, principal, actor.ip)
    if not verify_password(account.password_hash, current_password):
        raise SecretRejected(
            FailedAttempt(
                actor.institution_id,
                principal,
                "auth.password_change",
                actor.audit(),
                account.id,
                "bad_password",
            ),
            InvalidInput.field(
                "body.current_password",
                "password_wrong",
                "当前密码不正确",
                "The current password is not correct",
            ),
        )
    staff = account.kind == "staff"
    check_password_policy(
        new_password,
        field="body.new_password",
        username=account.username,
        phone=account.phone,
        min_length=12 if staff else 8,
    )
    if verify_password(account.password_hash, new_password):
        raise InvalidInput.field(
            "body.new_password",
            "password_reused",
            "新密码不能与当前密码相同",
            "Choose a password you have not used",
        )
    db.execute(
        update(UserAccount)
        .where(UserAccount.id == account.id)
        .values(
            password_hash=hash_password(new_password),
            password_changed_at=utcnow(),
            must_change_password=False,
        )
    )
    revoked = sessions.revoke_all_for_user(
        db, account.id, "password_changed", except_session=actor.session_id
    )
    throttle.clear_login_failures(db, principal)
    audit.record(
        db,
        actor.audit(),
        "auth.password_change",
        resource_type="user_account",
        resource_id=account.id,
        detail={"other_sessions_revoked": revoked},
    )
    db.refresh(account)
    return revoked, next_step(account, actor.mfa_verified)


def logout(db: Session, actor: Actor) -> None:
    """End the caller's session."""
    sessions.revoke(db, actor.session_id, "logout")
    audit.record(db, actor.audit(), "auth.logout", resource_type="auth_session", resource_id=actor.session_id)


def require_verified(actor: Actor) -> None:
    """A half-open session (second factor still to come) may not do this."""
    if not actor.mfa_verified:
        raise Unauthenticated("请先完成双因素认证", "Second factor required", extra={"next": "mfa"})


def watermark_text(db: Session, actor: Actor) -> str:
    """DOMAIN §10: staff screens carry the viewer's name and staff number; patient screens the
    patient's (real-name verified) name, else the account's display name."""
    if actor.is_staff:
        return f"{actor.display_name} {actor.staff_no}" if actor.staff_no else actor.display_name
    verified_name = db.scalar(
        select(Visitor.name).where(
            Visitor.account_id == actor.user_id,
            Visitor.relation == "self",
            Visitor.removed_at.is_(None),
            Visitor.verified_at.is_not(None),
        )
    )
    return verified_name or actor.display_name


def institution_of(db: Session, actor: Actor) -> Institution:
    institution = db.get(Institution, actor.institution_id)
    if institution is None:
        raise NotFound()
    return institution
