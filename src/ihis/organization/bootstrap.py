"""First start of a production installation: the institution and its first administrator.

``ihis bootstrap`` is how IT brings up an empty database (after ``ihis migrate``): it creates
the institution with its registered 诊疗科目 and one ``super_admin`` account with a one-time
password that must be changed at first login (then TOTP enrolment follows). Everything else —
staff, departments, consent text — is then done in the console. Idempotent: an existing
institution or account is left as it is and no password is issued again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import RoleAssignment, UserAccount
from ihis.identity.passwords import generate_initial_password, hash_password
from ihis.organization.subjects import subject_name
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import InvalidInput
from ihis.tenancy.models import Institution


@dataclass(frozen=True)
class Bootstrapped:
    institution: Institution
    admin: UserAccount
    # Shown once; None when the account already existed.
    initial_password: str | None
    created_institution: bool


def bootstrap(
    db: Session, *, code: str, name: str, subjects: list[str], admin_username: str, admin_name: str
) -> Bootstrapped:
    """Create (or find) the institution and its first super administrator."""
    unknown = [c for c in subjects if subject_name(c) is None]
    if unknown:
        raise InvalidInput.field(
            "subjects",
            "subject_unknown",
            f"未知的诊疗科目代码：{', '.join(unknown)}",
            f"Unknown subject codes: {unknown}",
        )
    institution = db.scalar(select(Institution).where(Institution.code == code))
    created = institution is None
    if institution is None:
        institution = Institution(code=code, name=name, registered_subjects=",".join(subjects))
        db.add(institution)
        db.flush()
        audit.record(
            db,
            _ctx(institution.id),
            "institution.create",
            resource_type="institution",
            resource_id=institution.id,
            detail={"code": code},
        )
    admin = db.scalar(
        select(UserAccount).where(
            UserAccount.institution_id == institution.id, UserAccount.username == admin_username
        )
    )
    if admin is not None:
        return Bootstrapped(institution, admin, None, created)
    password = generate_initial_password()
    admin = UserAccount(
        institution_id=institution.id,
        kind="staff",
        status="active",
        username=admin_username,
        display_name=admin_name,
        password_hash=hash_password(password),
        password_changed_at=utcnow(),
        must_change_password=True,
    )
    db.add(admin)
    db.flush()
    db.add(
        RoleAssignment(
            institution_id=institution.id, user_id=admin.id, role="super_admin", granted_at=utcnow()
        )
    )
    audit.record(
        db,
        _ctx(institution.id),
        "staff.create",
        resource_type="user_account",
        resource_id=admin.id,
        detail={"roles": ["super_admin"], "via": "bootstrap"},
    )
    return Bootstrapped(institution, admin, password, created)


def _ctx(institution_id: int) -> audit.AuditContext:
    return audit.AuditContext(
        actor_id=None,
        actor_role="cli",
        actor_name="ihis bootstrap",
        institution_id=institution_id,
        ip=None,
        user_agent=None,
    )
