"""Staff accounts: creation (single, self-registration), roles, status, MFA reset, sessions.

Who may do what beyond the permission at the door is in ``staff_policy``. Every row read or changed
here belongs to the actor's institution: another institution's ids answer 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from ihis.identity import mfa, sessions
from ihis.identity.access import Actor
from ihis.identity.auth_service import anonymous_context, normalise_username
from ihis.identity.models import AuthSession, RoleAssignment, UserAccount
from ihis.identity.passwords import check_password_policy, hash_password
from ihis.identity.schemas_auth import StaffRegistrationIn
from ihis.identity.staff_policy import check_manageable, check_may_grant, role_errors
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.platform.errors import Conflict, FieldError, InvalidInput, NotFound
from ihis.settings import Settings
from ihis.tenancy.models import Institution


def phone_index(phone: str) -> str:
    """The blind index of a mainland mobile number (same purpose as patients' phones)."""
    return blind_index(phone, "phone")


def _not_found() -> NotFound:
    return NotFound("工作人员账号不存在", "Staff account not found")


def get_staff(db: Session, actor: Actor, user_id: int, *, for_update: bool = False) -> UserAccount:
    """A staff account of the actor's institution (404 otherwise)."""
    stmt = (
        select(UserAccount)
        .options(undefer(UserAccount.phone))
        .where(
            UserAccount.id == user_id,
            UserAccount.institution_id == actor.institution_id,
            UserAccount.kind == "staff",
        )
    )
    account = db.scalar(stmt.with_for_update() if for_update else stmt)
    if account is None:
        raise _not_found()
    return account


def roles_of(db: Session, user_ids: Sequence[int]) -> dict[int, list[str]]:
    """Every listed account's roles, sorted, in one query."""
    found: dict[int, list[str]] = {uid: [] for uid in user_ids}
    if user_ids:
        rows = db.execute(
            select(RoleAssignment.user_id, RoleAssignment.role).where(RoleAssignment.user_id.in_(user_ids))
        )
        for uid, role in rows:
            found[uid].append(role)
    return {uid: sorted(roles) for uid, roles in found.items()}


# --- creating accounts ------------------------------------------------------------------------


@dataclass(frozen=True)
class NewStaff:
    """One validated account to create (from the form, an import row or self-registration)."""

    username: str
    display_name: str
    staff_no: str | None
    phone: str | None
    roles: tuple[str, ...]
    password: str
    generated: bool


def identity_conflicts(
    db: Session, institution_id: int, candidate: NewStaff, prefix: str
) -> list[FieldError]:
    """Username, staff number and phone already used in this institution."""
    problems = []
    taken = {
        "username": UserAccount.username == candidate.username,
        "staff_no": UserAccount.staff_no == candidate.staff_no if candidate.staff_no else None,
        "phone": UserAccount.phone_bidx == phone_index(candidate.phone) if candidate.phone else None,
    }
    for field, clause in taken.items():
        if clause is None:
            continue
        hit = db.scalar(
            select(
                exists().where(
                    UserAccount.institution_id == institution_id, UserAccount.kind == "staff", clause
                )
            )
        )
        if hit:
            problems.append(FieldError(f"{prefix}.{field}", f"{field}_taken", "已被占用", "Already in use"))
    return problems


def insert_account(
    db: Session,
    institution_id: int,
    candidate: NewStaff,
    password_hash: str,
    *,
    status: str,
    granted_by: int | None,
) -> UserAccount:
    now = utcnow()
    account = UserAccount(
        institution_id=institution_id,
        kind="staff",
        status=status,
        username=candidate.username,
        staff_no=candidate.staff_no,
        display_name=candidate.display_name,
        phone=candidate.phone,
        phone_bidx=phone_index(candidate.phone) if candidate.phone else None,
        password_hash=password_hash,
        password_changed_at=now,
        must_change_password=status == "active",
    )
    db.add(account)
    db.flush()
    for role in candidate.roles:
        db.add(
            RoleAssignment(
                institution_id=institution_id,
                user_id=account.id,
                role=role,
                granted_by=granted_by,
                granted_at=now,
            )
        )
    return account


def flush_or_conflict(db: Session) -> None:
    """Flush; a unique constraint hit by a concurrent writer becomes a 409."""
    try:
        db.flush()
    except IntegrityError as exc:
        raise Conflict(
            "用户名、工号或手机号已被占用", "Username, staff number or phone already in use"
        ) from exc


def create_staff(
    db: Session, settings: Settings, actor: Actor, candidate: NewStaff, password_hash: str
) -> UserAccount:
    """Create one active account that must change its password at first login."""
    problems = role_errors(candidate.roles, "body.roles")
    problems += identity_conflicts(db, actor.institution_id, candidate, "body")
    if problems:
        raise InvalidInput(problems[0].message_zh, problems[0].message_en, errors=problems)
    check_may_grant(actor, settings, set(), set(candidate.roles))
    account = insert_account(
        db, actor.institution_id, candidate, password_hash, status="active", granted_by=actor.user_id
    )
    flush_or_conflict(db)
    audit.record(
        db,
        actor.audit(),
        "staff.create",
        resource_type="user_account",
        resource_id=account.id,
        detail={
            "roles": sorted(candidate.roles),
            "password_generated": candidate.generated,
        },
    )
    return account


def registration_password_hash(body: StaffRegistrationIn) -> str:
    """Check the chosen password against the staff policy and hash it (before any database work)."""
    username = normalise_username(body.username)
    check_password_policy(body.password, field="body.password", username=username, phone=body.phone)
    return hash_password(body.password)


def register_staff(
    db: Session,
    institution: Institution,
    body: StaffRegistrationIn,
    password_hash: str,
    *,
    ip: str | None,
    user_agent: str | None,
) -> UserAccount:
    """Self-registration: ``pending_review`` until the qualification review approves it."""
    username = normalise_username(body.username)
    candidate = NewStaff(
        username, body.display_name, None, body.phone, (body.profession,), body.password, False
    )
    problems = identity_conflicts(db, institution.id, candidate, "body")
    if problems:
        raise Conflict(problems[0].message_zh, problems[0].message_en, errors=problems)
    account = insert_account(
        db, institution.id, candidate, password_hash, status="pending_review", granted_by=None
    )
    flush_or_conflict(db)
    audit.record(
        db,
        anonymous_context(institution.id, account, ip, user_agent),
        "staff.register",
        resource_type="user_account",
        resource_id=account.id,
        detail={"profession": body.profession},
    )
    return account


def activate_account(db: Session, actor: Actor, user_id: int) -> UserAccount:
    """Qualification approved: a ``pending_review`` account may now sign in (its role takes effect)."""
    account = get_staff(db, actor, user_id)
    _transition(db, account, "pending_review", "active")
    audit.record(db, actor.audit(), "staff.activate", resource_type="user_account", resource_id=account.id)
    return account


def reject_account(db: Session, actor: Actor, user_id: int, reason: str) -> UserAccount:
    """Qualification rejected: the ``pending_review`` account is closed (``rejected``), never signs in."""
    account = get_staff(db, actor, user_id)
    _transition(db, account, "pending_review", "rejected")
    audit.record(
        db,
        actor.audit(),
        "staff.reject",
        resource_type="user_account",
        resource_id=account.id,
        detail={"reason": reason[:500]},
    )
    return account


def _transition(db: Session, account: UserAccount, from_status: str, to_status: str) -> None:
    moved = db.execute(
        update(UserAccount)
        .where(UserAccount.id == account.id, UserAccount.status == from_status)
        .values(status=to_status, updated_at=utcnow())
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise Conflict(
            f"账号状态不是 {from_status}",
            f"The account is not {from_status}",
            extra={"account_status": account.status},
        )
    db.refresh(account)


# --- administration ---------------------------------------------------------------------------


def search_staff(
    db: Session,
    actor: Actor,
    *,
    q: str | None,
    role: str | None,
    status: str | None,
    phone: str | None,
    limit: int,
    offset: int,
) -> tuple[list[UserAccount], int]:
    """Staff of the actor's institution matching the filters, newest first, with the total."""
    where = [UserAccount.institution_id == actor.institution_id, UserAccount.kind == "staff"]
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            or_(
                func.lower(UserAccount.display_name).like(pattern, escape="\\"),
                func.lower(UserAccount.username).like(pattern, escape="\\"),
                func.lower(UserAccount.staff_no).like(pattern, escape="\\"),
            )
        )
    if role:
        where.append(exists().where(RoleAssignment.user_id == UserAccount.id, RoleAssignment.role == role))
    if status:
        where.append(UserAccount.status == status)
    if phone:
        where.append(UserAccount.phone_bidx == phone_index(phone))
    total = db.scalar(select(func.count(UserAccount.id)).where(*where)) or 0
    rows = db.scalars(
        select(UserAccount)
        .options(undefer(UserAccount.phone))
        .where(*where)
        .order_by(UserAccount.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def set_roles(
    db: Session, settings: Settings, actor: Actor, user_id: int, roles: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Replace an account's roles; returns (before, after). Audited with both."""
    account = get_staff(db, actor, user_id, for_update=True)  # serialises concurrent role changes
    before = set(roles_of(db, [account.id])[account.id])
    after = {str(r) for r in roles}
    check_manageable(actor, account, before | after)
    problems = role_errors(after, "body.roles")
    if problems:
        raise InvalidInput(problems[0].message_zh, problems[0].message_en, errors=problems)
    sessions.require_recent_step_up(actor, settings)
    check_may_grant(actor, settings, before, after)
    db.execute(
        delete(RoleAssignment).where(
            RoleAssignment.user_id == account.id, RoleAssignment.role.in_(before - after)
        )
    )
    now = utcnow()
    for role in sorted(after - before):
        db.add(
            RoleAssignment(
                institution_id=account.institution_id,
                user_id=account.id,
                role=role,
                granted_by=actor.user_id,
                granted_at=now,
            )
        )
    flush_or_conflict(db)
    audit.record(
        db,
        actor.audit(),
        "staff.role_change",
        resource_type="user_account",
        resource_id=account.id,
        detail={"before": sorted(before), "after": sorted(after)},
    )
    return sorted(before), sorted(after)


def set_status(db: Session, actor: Actor, user_id: int, *, enable: bool) -> tuple[UserAccount, int]:
    """Disable (ending every session) or re-enable an account; returns it and the sessions ended."""
    account = get_staff(db, actor, user_id)
    check_manageable(actor, account, roles_of(db, [account.id])[account.id])
    if enable:
        _transition(db, account, "disabled", "active")
        revoked = 0
    else:
        _transition(db, account, "active", "disabled")
        revoked = sessions.revoke_all_for_user(db, account.id, "account_disabled")
    audit.record(
        db,
        actor.audit(),
        "staff.enable" if enable else "staff.disable",
        resource_type="user_account",
        resource_id=account.id,
        detail={"sessions_revoked": revoked},
    )
    return account, revoked


def reset_mfa(db: Session, settings: Settings, actor: Actor, user_id: int) -> int:
    """Forget an account's TOTP and recovery codes and end its sessions; it enrols again at next login."""
    account = get_staff(db, actor, user_id)
    check_manageable(actor, account, roles_of(db, [account.id])[account.id])
    sessions.require_recent_step_up(actor, settings)
    db.execute(
        update(UserAccount).where(UserAccount.id == account.id).values(totp_secret=None, totp_enabled_at=None)
    )
    mfa.clear_second_factor(db, account.id)
    revoked = sessions.revoke_all_for_user(db, account.id, "mfa_reset")
    audit.record(
        db,
        actor.audit(),
        "staff.mfa_reset",
        resource_type="user_account",
        resource_id=account.id,
        detail={"sessions_revoked": revoked},
    )
    return revoked


def is_live(row: AuthSession, settings: Settings, now: dt.datetime) -> bool:
    """Not revoked, not past its absolute lifetime, not idle too long."""
    if row.revoked_at is not None or now >= row.absolute_expires_at:
        return False
    return now - row.last_seen_at < dt.timedelta(minutes=settings.session_idle_minutes)


def sessions_of(db: Session, actor: Actor, user_id: int, *, include_ended: bool) -> list[AuthSession]:
    """An account's sessions, newest first (live only unless asked)."""
    account = get_staff(db, actor, user_id)
    stmt = select(AuthSession).where(
        AuthSession.user_id == account.id, AuthSession.institution_id == actor.institution_id
    )
    if not include_ended:
        stmt = stmt.where(AuthSession.revoked_at.is_(None), AuthSession.absolute_expires_at > utcnow())
    rows = list(db.scalars(stmt.order_by(AuthSession.id.desc()).limit(200)))
    audit.record(
        db, actor.audit(), "staff.sessions_read", resource_type="user_account", resource_id=account.id
    )
    return rows


def revoke_session(db: Session, settings: Settings, actor: Actor, session_id: int) -> bool:
    """Revoke one session of the actor's institution; False if it had already ended."""
    row = db.scalar(
        select(AuthSession).where(
            AuthSession.id == session_id, AuthSession.institution_id == actor.institution_id
        )
    )
    if row is None:
        raise NotFound("会话不存在", "Session not found")
    owner = db.get(UserAccount, row.user_id)
    if owner is not None and owner.kind == "staff" and row.user_id != actor.user_id:
        check_manageable(actor, owner, roles_of(db, [owner.id])[owner.id])
    sessions.require_recent_step_up(actor, settings)
    revoked = sessions.revoke(db, row.id, "admin_revoked")
    if revoked:
        audit.record(
            db,
            actor.audit(),
            "session.revoke",
            resource_type="auth_session",
            resource_id=row.id,
            detail={"user_id": row.user_id},
        )
    return revoked
