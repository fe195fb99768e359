"""Login sessions: opaque random tokens stored hashed, idle and absolute expiry, CSRF for cookies.

Web apps get two cookies: ``ihis_session`` (HttpOnly, the token) and ``ihis_csrf`` (readable by
the app's JavaScript, echoed in the ``X-CSRF-Token`` header on every unsafe request: the
double-submit pattern, checked against the hash stored with the session). API clients send
``Authorization: Bearer <token>`` and need no CSRF token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, permissions_of
from ihis.identity.models import AuthSession, RoleAssignment, UserAccount
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Forbidden
from ihis.platform.http import client_ip, user_agent
from ihis.settings import Settings

SESSION_COOKIE = "ihis_session"
CSRF_COOKIE = "ihis_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_seen_at is written at most this often, so that reads do not all become writes.
TOUCH_INTERVAL = dt.timedelta(seconds=60)


def token_hash(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is a sufficient at-rest hash."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedSession:
    token: str
    csrf_token: str
    session_id: int
    expires_at: dt.datetime


def issue_session(
    db: Session,
    account: UserAccount,
    settings: Settings,
    *,
    channel: str,
    ip: str | None,
    user_agent: str | None,
    mfa_verified: bool,
) -> IssuedSession:
    """Create a session for ``account`` (patients: fully signed in; staff: until MFA passes)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(24)
    row = AuthSession(
        institution_id=account.institution_id,
        token_hash=token_hash(token),
        csrf_hash=token_hash(csrf_token),
        user_id=account.id,
        channel=channel,
        created_at=now,
        last_seen_at=now,
        absolute_expires_at=now + dt.timedelta(hours=settings.session_absolute_hours),
        mfa_verified=mfa_verified,
        ip=ip,
        user_agent=user_agent,
    )
    db.add(row)
    db.flush()
    return IssuedSession(token, csrf_token, row.id, row.absolute_expires_at)


def mark_mfa_verified(db: Session, session_id: int) -> None:
    """The second factor passed: the half-open staff session becomes a full one."""
    db.execute(
        update(AuthSession).where(AuthSession.id == session_id).values(mfa_verified=True, step_up_at=utcnow())
    )


def mark_step_up(db: Session, session_id: int) -> None:
    """The user re-authenticated just now (for sensitive actions)."""
    db.execute(update(AuthSession).where(AuthSession.id == session_id).values(step_up_at=utcnow()))


def revoke(db: Session, session_id: int, reason: str) -> bool:
    """Revoke one live session; False if it was already revoked."""
    result = db.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_all_for_user(db: Session, user_id: int, reason: str, *, except_session: int | None = None) -> int:
    """Revoke every live session of a user (password change, disable, admin action)."""
    stmt = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if except_session is not None:
        stmt = stmt.where(AuthSession.id != except_session)
    result = db.execute(stmt.values(revoked_at=utcnow(), revoked_reason=reason))
    return int(result.rowcount)  # type: ignore[attr-defined]


def set_session_cookies(response: Response, issued: IssuedSession, settings: Settings) -> None:
    # Cookie lifetime is the absolute lifetime; the idle timeout is enforced on the server.
    max_age = settings.session_absolute_hours * 3600
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=max_age,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        issued.csrf_token,
        max_age=max_age,
        httponly=False,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def _presented_token(request: Request) -> tuple[str | None, str]:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None, "bearer"
    return request.cookies.get(SESSION_COOKIE), "cookie"


def _check_csrf(request: Request, row: AuthSession) -> None:
    if request.method in SAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER, "")
    if not presented or not hmac.compare_digest(token_hash(presented), row.csrf_hash):
        raise Forbidden(
            "跨站请求校验失败，请刷新页面后重试",
            "CSRF check failed; reload and retry",
            extra={"reason": "csrf"},
        )


def _is_live(row: AuthSession, settings: Settings, now: dt.datetime) -> bool:
    if row.revoked_at is not None or now >= row.absolute_expires_at:
        return False
    return now - row.last_seen_at < dt.timedelta(minutes=settings.session_idle_minutes)


def authenticate_request(request: Request) -> Actor | None:
    """The actor behind this request's token, or None (no token, unknown, expired, revoked)."""
    cached: Actor | None = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    token, channel = _presented_token(request)
    if not token:
        return None
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.db
    now = utcnow()
    with database.unit_of_work(write=False) as db:
        row = db.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(token)))
        # Application sessions (pending applicants) open only their own profile endpoints.
        if row is None or row.channel == "application" or not _is_live(row, settings, now):
            return None
        if channel == "cookie":
            _check_csrf(request, row)
        account = db.get(UserAccount, row.user_id)
        if account is None or account.status != "active":
            return None
        roles = frozenset(db.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == account.id)))
        if account.kind == "patient":
            roles = roles | {"patient"}
        actor = Actor(
            user_id=account.id,
            institution_id=account.institution_id,
            kind=account.kind,
            display_name=account.display_name,
            roles=roles,
            session_id=row.id,
            staff_no=account.staff_no,
            mfa_verified=row.mfa_verified or account.kind == "patient",
            must_change_password=account.must_change_password,
            step_up_at=row.step_up_at,
            ip=client_ip(request),
            user_agent=user_agent(request),
            permissions=permissions_of(roles),
        )
        needs_touch = now - row.last_seen_at >= TOUCH_INTERVAL
    if needs_touch:
        with database.unit_of_work(write=True) as wdb:
            wdb.execute(
                update(AuthSession).where(AuthSession.id == actor.session_id).values(last_seen_at=now)
            )
    request.state.actor = actor
    return actor


def require_recent_step_up(actor: Actor, settings: Settings) -> None:
    """Sensitive actions need a re-authentication within the last few minutes."""
    window = dt.timedelta(minutes=settings.step_up_minutes)
    if actor.step_up_at is None or utcnow() - actor.step_up_at > window:
        raise Forbidden(
            "此操作需要重新验证身份", "Re-authenticate to perform this action", extra={"next": "step_up"}
        )
