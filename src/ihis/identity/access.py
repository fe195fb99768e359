"""Who is calling and what they may do: the ``Actor``, roles, permissions and FastAPI dependencies.

Later domains use only this module at their doors:

    def endpoint(actor: Annotated[Actor, Depends(require(Permission.ORG_MANAGE))], db: Db): ...
    # a patient who accepted the current consent (BJ 5.5.1.1):
    from ihis.identity.consent import ConsentedPatient
    def patient_endpoint(actor: ConsentedPatient, db: Db): ...
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request

from ihis.platform.audit import AuditContext
from ihis.platform.errors import Forbidden, Unauthenticated


class Role(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    PHARMACY_STAFF = "pharmacy_staff"
    SENIOR_PHARMACIST = "senior_pharmacist"  # 主管药师: approves formulary changes, keeps the rule base
    FORMULARY_ADMIN = "formulary_admin"  # 药品目录维护: proposes catalogue changes (BJ 5.6.3)
    OPERATIONS = "operations"
    FINANCE = "finance"
    QUALITY = "quality"
    IT_ADMIN = "it_admin"
    SECURITY_ADMIN = "security_admin"
    AUDITOR = "auditor"
    SUPER_ADMIN = "super_admin"


STAFF_ROLES = frozenset(Role) - {Role.PATIENT}


class Permission(StrEnum):
    ORG_READ = "org.read"
    ORG_MANAGE = "org.manage"
    INSTITUTION_MANAGE = "institution.manage"
    DISCLOSURE_MANAGE = "disclosure.manage"
    PROFILE_EDIT_OWN = "profile.edit_own"
    PROFILE_REVIEW = "profile.review"
    STAFF_READ = "staff.read"
    STAFF_MANAGE = "staff.manage"
    ROLE_ASSIGN = "role.assign"
    SESSION_REVOKE = "session.revoke"
    CONSENT_MANAGE = "consent.manage"
    PII_READ_FULL = "pii.read_full"
    SANDBOX_OUTBOX_READ = "sandbox.outbox_read"
    SCHEDULE_MANAGE = "schedule.manage"
    NOTIFICATION_MANAGE = "notification.manage"
    BILLING_READ = "billing.read"
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"
    FORMULARY_READ = "formulary.read"
    FORMULARY_PROPOSE = "formulary.propose"
    FORMULARY_APPROVE = "formulary.approve"
    STOCK_MANAGE = "stock.manage"
    RX_KNOWLEDGE_MANAGE = "rx.knowledge_manage"
    RX_REVIEW = "rx.review"
    PHARMACY_DUTY_READ = "pharmacy.duty_read"
    PHARMACY_DISPENSE = "pharmacy.dispense"


_CLINICAL = {Permission.ORG_READ, Permission.PROFILE_EDIT_OWN}
_PHARMACIST = _CLINICAL | {
    Permission.FORMULARY_READ,
    Permission.RX_REVIEW,
    Permission.PHARMACY_DUTY_READ,
    Permission.PHARMACY_DISPENSE,
}
# Professional acts that carry a personal licence and signature: never granted to administrators.
_PROFESSIONAL_ACTS = {Permission.FORMULARY_APPROVE, Permission.RX_REVIEW, Permission.PHARMACY_DISPENSE}
_ALL_BUT_AUDIT = frozenset(Permission) - {Permission.AUDIT_READ, Permission.AUDIT_EXPORT} - _PROFESSIONAL_ACTS

# Least privilege with separated duties (GB/T 22239 level 3): administrators manage accounts and
# systems but cannot read or alter the audit ledger; the auditor reads it and nothing else.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PATIENT: frozenset(),
    Role.DOCTOR: frozenset(_CLINICAL | {Permission.FORMULARY_READ}),
    Role.NURSE: frozenset(_CLINICAL),
    Role.PHARMACIST: frozenset(_PHARMACIST),
    Role.PHARMACY_STAFF: frozenset(
        _CLINICAL | {Permission.FORMULARY_READ, Permission.STOCK_MANAGE, Permission.PHARMACY_DISPENSE}
    ),
    Role.SENIOR_PHARMACIST: frozenset(
        _PHARMACIST | {Permission.FORMULARY_APPROVE, Permission.RX_KNOWLEDGE_MANAGE}
    ),
    Role.FORMULARY_ADMIN: frozenset(
        {
            Permission.ORG_READ,
            Permission.FORMULARY_READ,
            Permission.FORMULARY_PROPOSE,
            Permission.STOCK_MANAGE,
        }
    ),
    Role.OPERATIONS: frozenset(
        {
            Permission.ORG_READ,
            Permission.ORG_MANAGE,
            Permission.DISCLOSURE_MANAGE,
            Permission.PROFILE_REVIEW,
            Permission.STAFF_READ,
            Permission.CONSENT_MANAGE,
            Permission.SANDBOX_OUTBOX_READ,
            Permission.SCHEDULE_MANAGE,
            Permission.NOTIFICATION_MANAGE,
            Permission.BILLING_READ,
            Permission.FORMULARY_READ,
            Permission.PHARMACY_DUTY_READ,
        }
    ),
    Role.FINANCE: frozenset({Permission.ORG_READ, Permission.BILLING_READ}),
    Role.QUALITY: frozenset({Permission.ORG_READ, Permission.PROFILE_REVIEW, Permission.STAFF_READ}),
    Role.IT_ADMIN: frozenset(
        {
            Permission.ORG_READ,
            Permission.STAFF_READ,
            Permission.STAFF_MANAGE,
            Permission.ROLE_ASSIGN,
            Permission.SESSION_REVOKE,
            Permission.SANDBOX_OUTBOX_READ,
        }
    ),
    Role.SECURITY_ADMIN: frozenset(
        {Permission.ORG_READ, Permission.STAFF_READ, Permission.SESSION_REVOKE, Permission.PII_READ_FULL}
    ),
    Role.AUDITOR: frozenset({Permission.AUDIT_READ, Permission.AUDIT_EXPORT}),
    Role.SUPER_ADMIN: _ALL_BUT_AUDIT,
}

# Roles one person may not hold together (三权分立: administrator / security / auditor).
INCOMPATIBLE_ROLES: frozenset[frozenset[Role]] = frozenset(
    {
        frozenset({Role.AUDITOR, Role.IT_ADMIN}),
        frozenset({Role.AUDITOR, Role.SECURITY_ADMIN}),
        frozenset({Role.AUDITOR, Role.SUPER_ADMIN}),
    }
)


def permissions_of(roles: frozenset[str]) -> frozenset[Permission]:
    perms: set[Permission] = set()
    for role in roles:
        perms |= ROLE_PERMISSIONS.get(Role(role), frozenset()) if role in Role._value2member_map_ else set()
    return frozenset(perms)


@dataclass(frozen=True)
class Actor:
    """The authenticated caller of one request."""

    user_id: int
    institution_id: int
    kind: str  # "patient" | "staff"
    display_name: str
    roles: frozenset[str]
    session_id: int
    staff_no: str | None = None
    mfa_verified: bool = False
    must_change_password: bool = False
    step_up_at: dt.datetime | None = None
    ip: str | None = None
    user_agent: str | None = None
    permissions: frozenset[Permission] = field(default=frozenset())

    @property
    def is_patient(self) -> bool:
        return self.kind == "patient"

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def audit(self) -> AuditContext:
        """The actor as the audit ledger records it."""
        return AuditContext(
            actor_id=self.user_id,
            actor_role=",".join(sorted(self.roles)) or self.kind,
            actor_name=self.display_name,
            institution_id=self.institution_id,
            ip=self.ip,
            user_agent=self.user_agent,
        )


def _authenticate(request: Request) -> Actor:
    from ihis.identity import sessions

    actor = sessions.authenticate_request(request)
    if actor is None:
        raise Unauthenticated()
    return actor


def session_actor(request: Request) -> Actor:
    """Any live session, even one still waiting for its second factor or a password change."""
    return _authenticate(request)


def current_actor(request: Request) -> Actor:
    """Any authenticated, fully signed-in caller (staff: second factor passed, password current)."""
    actor = _authenticate(request)
    if actor.is_staff and not actor.mfa_verified:
        raise Unauthenticated("请先完成双因素认证", "Second factor required", extra={"next": "mfa"})
    if actor.must_change_password:
        raise Forbidden(
            "请先修改初始密码", "Change your initial password first", extra={"next": "change_password"}
        )
    return actor


def require(*permissions: Permission) -> Callable[[Request], Actor]:
    """A dependency that lets through staff holding every one of ``permissions``."""

    def dependency(request: Request) -> Actor:
        actor = current_actor(request)
        missing = [p for p in permissions if not actor.can(p)]
        if not actor.is_staff or missing:
            raise Forbidden(extra={"missing_permissions": [str(p) for p in missing]})
        return actor

    dependency.__name__ = "require_" + "_".join(p.name.lower() for p in permissions)
    return dependency


def patient_actor(request: Request) -> Actor:
    actor = current_actor(request)
    if not actor.is_patient:
        raise Forbidden("仅患者可用", "Patients only")
    return actor


def staff_actor(request: Request) -> Actor:
    actor = current_actor(request)
    if not actor.is_staff:
        raise Forbidden("仅工作人员可用", "Staff only")
    return actor


SessionActor = Annotated[Actor, Depends(session_actor)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
PatientActor = Annotated[Actor, Depends(patient_actor)]
StaffActor = Annotated[Actor, Depends(staff_actor)]
