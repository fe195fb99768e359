"""The public directory of one institution: hospital, departments, doctors, disclosure (BJ 5.1.1.1).

Only what a patient may see: enabled departments under registered subjects, approved doctors
with service on; masked certificate numbers; no phone numbers; nothing of other institutions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.organization.models import Campus, Department, ServiceMode, StaffProfile
from ihis.organization.policy import listed_in_directory, mode_priced, practice_years
from ihis.organization.public_schemas import (
    PublicCampus,
    PublicDepartment,
    PublicDepartmentDetail,
    PublicDisclosureItem,
    PublicDoctor,
    PublicDoctorDetail,
    PublicInstitution,
    PublicMode,
    PublicSubject,
)
from ihis.organization.service import disclosure_items
from ihis.organization.subjects import subject_name
from ihis.organization.titles import TITLES
from ihis.organization.views import ModePrice, modes_by_profile
from ihis.platform.clock import local_today
from ihis.platform.errors import NotFound
from ihis.platform.masking import mask_id_number
from ihis.platform.storage import FileStorage
from ihis.tenancy.models import Institution

_TITLE_ORDER = case({t.name: t.level for t in TITLES}, value=StaffProfile.title, else_=9)


@dataclass(frozen=True)
class DoctorFilter:
    department_id: int | None = None
    title: str | None = None
    mode: ServiceMode | None = None
    keyword: str | None = None


def institution(db: Session, inst: Institution) -> PublicInstitution:
    """The hospital's card: name, introduction, address, campuses, registered subjects."""
    campuses = db.scalars(
        select(Campus).where(Campus.institution_id == inst.id, Campus.enabled.is_(True)).order_by(Campus.id)
    )
    named = dict(
        db.execute(
            select(Department.subject_code, Department.subject_name).where(
                Department.institution_id == inst.id
            )
        ).all()
    )
    return PublicInstitution(
        code=inst.code,
        name=inst.name,
        introduction=inst.introduction,
        address=inst.address,
        campuses=[PublicCampus(id=c.id, name=c.name, address=c.address) for c in campuses],
        subjects=[
            PublicSubject(code=code, name=subject_name(code) or named.get(code))
            for code in sorted(inst.subject_codes())
        ],
    )


def _open_departments(inst: Institution) -> Select[Department, str]:
    return (
        select(Department, Campus.name)
        .outerjoin(Campus, Campus.id == Department.campus_id)
        .where(
            Department.institution_id == inst.id,
            Department.enabled.is_(True),
            Department.subject_code.in_(sorted(inst.subject_codes())),
        )
        .order_by(Department.sort_order, Department.id)
    )


def _doctor_counts(db: Session, inst: Institution) -> dict[int, int]:
    stmt = (
        select(StaffProfile.department_id, func.count())
        .join(UserAccount, UserAccount.id == StaffProfile.user_id)
        .join(Department, Department.id == StaffProfile.department_id)
        .where(listed_in_directory(inst.id, inst.subject_codes()))
        .group_by(StaffProfile.department_id)
    )
    return {dept_id: n for dept_id, n in db.execute(stmt).all() if dept_id is not None}


def _department(d: Department, campus_name: str | None, count: int) -> PublicDepartment:
    return PublicDepartment(
        id=d.id,
        name=d.name,
        subject_code=d.subject_code,
        subject_name=d.subject_name,
        campus_id=d.campus_id,
        campus_name=campus_name,
        introduction=d.introduction,
        scope=d.scope,
        strengths=d.strengths,
        doctor_count=count,
    )


def departments(db: Session, inst: Institution, campus_id: int | None = None) -> list[PublicDepartment]:
    """Departments open online, in display order, with how many doctors each lists."""
    stmt = _open_departments(inst)
    if campus_id is not None:
        stmt = stmt.where(Department.campus_id == campus_id)
    counts = _doctor_counts(db, inst)
    return [_department(d, campus, counts.get(d.id, 0)) for d, campus in db.execute(stmt).all()]


def department(db: Session, inst: Institution, department_id: int) -> PublicDepartmentDetail:
    """One open department with its listed doctors."""
    row = db.execute(_open_departments(inst).where(Department.id == department_id)).first()
    if row is None:
        raise NotFound("科室不存在", "Department not found")
    dept, campus = row
    docs, total = doctors(db, inst, DoctorFilter(department_id=dept.id), limit=500, offset=0)
    return PublicDepartmentDetail(**_department(dept, campus, total).model_dump(), doctors=docs)


def _listed(inst: Institution) -> Select[StaffProfile, str, str, str]:
    return (
        select(StaffProfile, UserAccount.display_name, Department.name, Campus.name)
        .join(UserAccount, UserAccount.id == StaffProfile.user_id)
        .join(Department, Department.id == StaffProfile.department_id)
        .outerjoin(Campus, Campus.id == Department.campus_id)
        .where(listed_in_directory(inst.id, inst.subject_codes()))
    )


def _card(p: StaffProfile, name: str, dept_name: str, modes: list[PublicMode]) -> dict[str, object]:
    return {
        "id": p.id,
        "user_id": p.user_id,
        "name": name,
        "profession": p.profession,
        "title": p.title,
        "department_id": p.department_id,
        "department_name": dept_name,
        "specialties": p.specialties,
        "practice_years": practice_years(p.practice_started_on, local_today()),
        "licence_no_masked": mask_id_number(p.licence_no),
        "has_photo": p.photo_key is not None,
        "modes": modes,
    }


def doctors(
    db: Session, inst: Institution, f: DoctorFilter, *, limit: int, offset: int
) -> tuple[list[PublicDoctor], int]:
    """Listed doctors matching the filter, senior titles first; with the total for paging."""
    stmt = _listed(inst)
    if f.department_id is not None:
        stmt = stmt.where(StaffProfile.department_id == f.department_id)
    if f.title:
        stmt = stmt.where(StaffProfile.title == f.title)
    if f.mode is not None:
        stmt = stmt.where(mode_priced(f.mode.value))
    if f.keyword:
        stmt = stmt.where(
            or_(
                UserAccount.display_name.contains(f.keyword, autoescape=True),
                StaffProfile.specialties.contains(f.keyword, autoescape=True),
                Department.name.contains(f.keyword, autoescape=True),
            )
        )
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.execute(stmt.order_by(_TITLE_ORDER, StaffProfile.id).limit(limit).offset(offset)).all()
    modes = modes_by_profile(db, inst.id, [r[0] for r in rows])
    cards = [
        PublicDoctor.model_validate(_card(p, name, dept, _public_modes(modes[p.id])))
        for p, name, dept, _campus in rows
    ]
    return cards, total


def _public_modes(modes: list[ModePrice]) -> list[PublicMode]:
    return [PublicMode(mode=m.mode, price_fen=m.price_fen) for m in modes if m.price_fen is not None]


def doctor(db: Session, inst: Institution, profile_id: int) -> PublicDoctorDetail:
    """One listed doctor's page."""
    row = db.execute(_listed(inst).where(StaffProfile.id == profile_id)).first()
    if row is None:
        raise NotFound("医生不存在", "Doctor not found")
    p, name, dept, campus = row
    modes = modes_by_profile(db, inst.id, [p])[p.id]
    return PublicDoctorDetail.model_validate(
        {
            **_card(p, name, dept, _public_modes(modes)),
            "introduction": p.introduction,
            "qualification_no_masked": mask_id_number(p.qualification_no),
            "campus_name": campus,
        }
    )


def doctor_photo(db: Session, inst: Institution, storage: FileStorage, profile_id: int) -> tuple[bytes, str]:
    """A listed doctor's photo (PNG or JPEG)."""
    row = db.execute(_listed(inst).where(StaffProfile.id == profile_id)).first()
    key = row[0].photo_key if row is not None else None
    if row is None or key is None:
        raise NotFound("照片不存在", "Photo not found")
    return storage.get(key), row[0].photo_content_type or "application/octet-stream"


def disclosure(db: Session, inst: Institution) -> list[PublicDisclosureItem]:
    """Every disclosure item of BJ 5.6.4.1, in order (empty body when not yet written)."""
    return [
        PublicDisclosureItem(key=v.key, title=v.title, body=v.body, updated_at=v.updated_at)
        for v in disclosure_items(db, inst.id)
    ]
