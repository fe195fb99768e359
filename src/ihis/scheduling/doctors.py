"""Who may hold a session: an active staff account with an approved doctor profile, and where."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.organization.models import Campus, Department, ServiceMode, StaffProfile
from ihis.organization.views import price_of
from ihis.platform.errors import InvalidInput


@dataclass(frozen=True)
class Placement:
    """A doctor, the department and campus of a session, and the doctor's price for its mode."""

    doctor: UserAccount
    profile: StaffProfile
    department: Department
    campus_id: int | None
    price_fen: int


def scheduling_doctor(db: Session, institution_id: int, doctor_id: int, field: str) -> StaffProfile:
    """The approved doctor profile of an active staff account of this institution."""
    profile = db.scalar(
        select(StaffProfile)
        .join(UserAccount, UserAccount.id == StaffProfile.user_id)
        .where(
            StaffProfile.user_id == doctor_id,
            StaffProfile.institution_id == institution_id,
            StaffProfile.profession == "doctor",
            StaffProfile.review_status == "approved",
            UserAccount.kind == "staff",
            UserAccount.status == "active",
        )
    )
    if profile is None:
        raise InvalidInput.field(
            field, "doctor_unknown", "未找到已审核通过的在职医师", "No approved, active doctor with this id"
        )
    return profile


def place(
    db: Session,
    institution_id: int,
    *,
    doctor_id: int,
    department_id: int | None,
    campus_id: int | None,
    mode: str,
    prefix: str = "body",
) -> Placement:
    """Check the doctor, department, campus and mode of a session; the doctor's price for it."""
    profile = scheduling_doctor(db, institution_id, doctor_id, f"{prefix}.doctor_id")
    dept_id = department_id if department_id is not None else profile.department_id
    department = (
        db.scalar(
            select(Department).where(
                Department.id == dept_id,
                Department.institution_id == institution_id,
                Department.enabled.is_(True),
            )
        )
        if dept_id is not None
        else None
    )
    if department is None:
        raise InvalidInput.field(
            f"{prefix}.department_id",
            "department_unknown",
            "科室不存在或未开放",
            "Unknown or closed department",
        )
    if profile.department_id != department.id:
        raise InvalidInput.field(
            f"{prefix}.department_id",
            "doctor_not_in_department",
            "医师不属于该科室",
            "The doctor does not belong to this department",
        )
    campus = campus_id if campus_id is not None else department.campus_id
    if campus is not None and not db.scalar(
        select(Campus.id).where(
            Campus.id == campus, Campus.institution_id == institution_id, Campus.enabled.is_(True)
        )
    ):
        raise InvalidInput.field(
            f"{prefix}.campus_id", "campus_unknown", "院区不存在或已停用", "Unknown or disabled campus"
        )
    price = price_of(db, profile, ServiceMode(mode))
    if price is None:
        raise InvalidInput.field(
            f"{prefix}.mode",
            "mode_not_enabled",
            "该医师未开通此服务方式或未定价",
            "The doctor does not offer this mode (or it has no price)",
        )
    doctor = db.get_one(UserAccount, doctor_id)
    return Placement(doctor, profile, department, campus, price)
