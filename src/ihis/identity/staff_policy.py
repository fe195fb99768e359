"""Separation of duties for staff administration (GB/T 22239 level 3, 三权分立).

On top of the permission checked at the door: nobody administers their own account (roles,
status, second factor); incompatible roles (``access.INCOMPATIBLE_ROLES``) are never held
together; only a super administrator grants or removes that role or administers an account that
holds it; granting or removing an administrative role needs a recent step-up.
"""

from __future__ import annotations

from collections.abc import Iterable

from ihis.identity import sessions
from ihis.identity.access import INCOMPATIBLE_ROLES, STAFF_ROLES, Actor, Permission, Role
from ihis.identity.models import UserAccount
from ihis.platform.errors import FieldError, Forbidden
from ihis.settings import Settings

# Roles whose grant hands out control over accounts, sessions, personal data or the audit ledger.
ADMIN_ROLES = frozenset({Role.IT_ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR, Role.SUPER_ADMIN})


def role_errors(roles: Iterable[str], field: str) -> list[FieldError]:
    """Staff-only roles, no incompatible pair (三权分立)."""
    wanted = set(roles)
    problems = [
        FieldError(field, "role_not_staff", f"{role} 不是工作人员角色", f"{role} is not a staff role")
        for role in sorted(wanted - {str(r) for r in STAFF_ROLES})
    ]
    for pair in sorted(INCOMPATIBLE_ROLES, key=lambda p: sorted(p)):
        if {str(r) for r in pair} <= wanted:
            a, b = sorted(str(r) for r in pair)
            problems.append(
                FieldError(
                    field,
                    "roles_incompatible",
                    f"角色 {a} 与 {b} 不能由同一人担任",
                    f"Roles {a} and {b} may not be held by one person",
                )
            )
    return problems


def check_may_grant(actor: Actor, settings: Settings, before: set[str], after: set[str]) -> None:
    """The actor's right to move an account from roles ``before`` to roles ``after``."""
    changed = before ^ after
    if not changed:
        return
    if not actor.can(Permission.ROLE_ASSIGN):
        raise Forbidden(
            "无权分配角色", "You may not assign roles", extra={"missing_permissions": ["role.assign"]}
        )
    if Role.SUPER_ADMIN in changed and Role.SUPER_ADMIN not in actor.roles:
        raise Forbidden(
            "仅超级管理员可授予或收回超级管理员角色", "Only a super administrator grants that role"
        )
    if changed & ADMIN_ROLES:
        sessions.require_recent_step_up(actor, settings)


def check_manageable(actor: Actor, account: UserAccount, roles: Iterable[str]) -> None:
    """Nobody administers their own account; only a super administrator administers another one."""
    if account.id == actor.user_id:
        raise Forbidden(
            "不能通过管理功能修改自己的账号",
            "You may not administer your own account",
            extra={"reason": "own_account"},
        )
    if Role.SUPER_ADMIN in set(roles) and Role.SUPER_ADMIN not in actor.roles:
        raise Forbidden("仅超级管理员可管理超级管理员账号", "Only a super administrator manages that account")
