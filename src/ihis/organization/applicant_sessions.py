"""Application sessions: how a self-registered applicant reaches their own profile before approval.

A self-registered staff account stays ``pending_review`` until its qualifications are approved
(BJ 5.5.2.1 注册审核), and ordinary sessions refuse such accounts. Identity issues the applicant a
Bearer token of an ``AuthSession`` with channel ``application`` (at registration, and when a
pending applicant signs in with the right password). That token opens only the own-profile
endpoints of this domain, with the single permission ``PROFILE_EDIT_OWN``; every other endpoint
still sees no session. Approval or closure of the application revokes it.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select, update

from ihis.identity.access import Actor, Permission
from ihis.identity.models import AuthSession, RoleAssignment, UserAccount
from ihis.identity.sessions import TOUCH_INTERVAL, token_hash
from ihis.identity.staff_service import is_live
from ihis.organization.policy import APPLICATION_CHANNEL, PENDING_REVIEW
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.http import client_ip, user_agent
from ihis.settings import Settings

APPLICANT_PERMISSIONS = frozenset({Permission.PROFILE_EDIT_OWN})


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def authenticate_applicant(request: Request) -> Actor | None:
    """The pending applicant behind a live application token, or None."""
    token = _bearer(request)
    if not token:
        return None
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.db
    now = utcnow()
    with database.unit_of_work(write=False) as db:
        row = db.scalar(
            select(AuthSession).where(
                AuthSession.token_hash == token_hash(token), AuthSession.channel == APPLICATION_CHANNEL
            )
        )
        if row is None or not is_live(row, settings, now):
            return None
        account = db.get(UserAccount, row.user_id)
        if account is None or account.kind != "staff" or account.status != PENDING_REVIEW:
            return None
        roles = frozenset(db.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == account.id)))
        actor = Actor(
            user_id=account.id,
            institution_id=account.institution_id,
            kind="staff",
            display_name=account.display_name,
            roles=roles,
            session_id=row.id,
            staff_no=account.staff_no,
            mfa_verified=False,
            ip=client_ip(request),
            user_agent=user_agent(request),
            # Whatever role was requested, an applicant can only work on their application.
            permissions=APPLICANT_PERMISSIONS,
        )
        needs_touch = now - row.last_seen_at >= TOUCH_INTERVAL
    if needs_touch:
        with database.unit_of_work(write=True) as wdb:
            wdb.execute(update(AuthSession).where(AuthSession.id == row.id).values(last_seen_at=now))
    return actor
