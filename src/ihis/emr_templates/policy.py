"""Who may use which templates (docs/coding.md, "EMR templates").

Personal templates belong to one doctor: only they see and change them. A department's templates
are shared by the doctors of that department (their staff profile's department): each of them
reads and maintains them, and every change is audited with its author. Other staff answer 403,
templates out of reach 404.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, Role
from ihis.organization.models import Department, StaffProfile
from ihis.platform.errors import Forbidden, NotFound


def check_doctor(actor: Actor) -> None:
    """Templates are for doctors (they write outpatient records)."""
    if not actor.is_staff or Role.DOCTOR.value not in actor.roles:
        raise Forbidden("仅医师可使用病历模板", "EMR templates are for doctors")


def own_department_id(db: Session, actor: Actor) -> int | None:
    """The department of the doctor's staff profile, if set."""
    return db.scalar(
        select(StaffProfile.department_id).where(
            StaffProfile.user_id == actor.user_id, StaffProfile.institution_id == actor.institution_id
        )
    )


def check_department_member(db: Session, actor: Actor, department_id: int) -> None:
    """The department exists in the actor's institution (else 404) and is the doctor's (else 403)."""
    check_doctor(actor)
    exists = db.scalar(
        select(Department.id).where(
            Department.id == department_id, Department.institution_id == actor.institution_id
        )
    )
    if exists is None:
        raise NotFound("科室不存在", "No such department")
    if own_department_id(db, actor) != department_id:
        raise Forbidden("仅本科室医师可使用科室模板", "Only the department's doctors use its templates")
