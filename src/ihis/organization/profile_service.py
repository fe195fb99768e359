"""Staff profiles: a staff member's own profile and documents, and what the hospital manages of it."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.identity.models import UserAccount
from ihis.organization.models import (
    Department,
    ReviewStatus,
    StaffProfile,
    StaffServiceMode,
)
from ihis.organization.policy import OWNER_EDITABLE_STATES, title_matches
from ihis.organization.schemas import AdminProfileIn, OwnProfileIn
from ihis.organization.service import upsert
from ihis.organization.titles import Profession
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound

# What a reviewer judged: the owner may not change these while under review or once approved.
QUALIFICATION_FIELDS = (
    "profession",
    "department_id",
    "title",
    "licence_no",
    "qualification_no",
    "practice_cert_no",
    "practice_started_on",
)
FREE_FIELDS = ("specialties", "introduction", "service_on")
# Status values in which the owner may change reviewed fields and documents.
EDITABLE_STATES = [s.value for s in OWNER_EDITABLE_STATES]


def locked() -> Conflict:
    return Conflict(
        "资质信息审核中或已通过，不能修改；如需变更请联系医务管理部门",
        "Qualification details are under review or approved and cannot be changed by you",
        extra={"reason": "profile_locked"},
    )


# --- lookups ---------------------------------------------------------------------------------


def find_own_profile(db: Session, actor: Actor) -> StaffProfile | None:
    return db.scalar(
        select(StaffProfile).where(
            StaffProfile.user_id == actor.user_id, StaffProfile.institution_id == actor.institution_id
        )
    )


def own_profile(db: Session, actor: Actor) -> StaffProfile:
    """The caller's profile, or 404 if they have not started one."""
    profile = find_own_profile(db, actor)
    if profile is None:
        raise NotFound(
            "尚未填写执业档案", "You have no staff profile yet", extra={"reason": "profile_not_started"}
        )
    return profile


def get_profile(db: Session, actor: Actor, profile_id: int) -> StaffProfile:
    """A profile of the actor's institution (others are not found)."""
    profile = db.scalar(
        select(StaffProfile)
        .where(StaffProfile.id == profile_id, StaffProfile.institution_id == actor.institution_id)
        .execution_options(populate_existing=True)
    )
    if profile is None:
        raise NotFound("执业档案不存在", "Staff profile not found")
    return profile


def profile_of_user(db: Session, institution_id: int, user_id: int) -> StaffProfile | None:
    """The profile of one staff account (for later domains: scheduling, prescribing)."""
    return db.scalar(
        select(StaffProfile).where(
            StaffProfile.user_id == user_id, StaffProfile.institution_id == institution_id
        )
    )


def _check_department(db: Session, actor: Actor, department_id: int | None) -> None:
    if department_id is None:
        return
    found = db.scalar(
        select(Department.id).where(
            Department.id == department_id,
            Department.institution_id == actor.institution_id,
            Department.enabled.is_(True),
        )
    )
    if found is None:
        raise InvalidInput.field(
            "body.department_id", "department_not_found", "科室不存在或已停用", "No such department"
        )


def _check_title(profession: str, title: str | None) -> None:
    if title is not None and not title_matches(profession, title):
        raise InvalidInput.field(
            "body.title",
            "title_profession_mismatch",
            "职称与执业类别不符",
            "The title does not match the profession",
        )


# --- the owner's side ------------------------------------------------------------------------


def save_own_profile(db: Session, actor: Actor, data: OwnProfileIn) -> StaffProfile:
    """Create or update the caller's profile; reviewed fields only while draft or rejected."""
    _check_department(db, actor, data.department_id)
    _check_title(data.profession.value, data.title)
    values = data.model_dump()
    values["profession"] = data.profession.value
    profile = find_own_profile(db, actor)
    if profile is None:
        profile = StaffProfile(
            institution_id=actor.institution_id,
            user_id=actor.user_id,
            review_status=ReviewStatus.DRAFT.value,
            **values,
        )
        try:
            # One profile per account (unique user_id): a concurrent first save loses cleanly.
            with db.begin_nested():
                db.add(profile)
        except IntegrityError:
            raise Conflict(
                "执业档案已存在，请刷新后重试", "The profile already exists; reload and retry"
            ) from None
        audit.record(
            db, actor.audit(), "staff_profile.create", resource_type="staff_profile", resource_id=profile.id
        )
        return profile
    changed = {f: values[f] for f in QUALIFICATION_FIELDS if getattr(profile, f) != values[f]}
    free = {f: values[f] for f in FREE_FIELDS}
    stmt = update(StaffProfile).where(StaffProfile.id == profile.id)
    if changed:
        # Guarded: a submit racing with this edit cannot let unreviewed details slip into review.
        stmt = stmt.where(StaffProfile.review_status.in_(EDITABLE_STATES))
    result = db.execute(stmt.values(**changed, **free, updated_at=utcnow()))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise locked()
    audit.record(
        db,
        actor.audit(),
        "staff_profile.update_own",
        resource_type="staff_profile",
        resource_id=profile.id,
        detail={"fields": sorted(changed) + sorted(free)},
    )
    return get_profile(db, actor, profile.id)


# --- the hospital's side ---------------------------------------------------------------------


def search_profiles(
    db: Session,
    actor: Actor,
    *,
    status: ReviewStatus | None = None,
    profession: Profession | None = None,
    department_id: int | None = None,
    keyword: str | None = None,
    limit: int = 50,
    offset: int = 0,
    oldest_submitted_first: bool = False,
) -> tuple[list[StaffProfile], int]:
    """Profiles of the institution, filtered; with the total count for paging."""
    stmt = (
        select(StaffProfile)
        .join(UserAccount, UserAccount.id == StaffProfile.user_id)
        .where(StaffProfile.institution_id == actor.institution_id)
    )
    if status is not None:
        stmt = stmt.where(StaffProfile.review_status == status.value)
    if profession is not None:
        stmt = stmt.where(StaffProfile.profession == profession.value)
    if department_id is not None:
        stmt = stmt.where(StaffProfile.department_id == department_id)
    if keyword:
        stmt = stmt.where(
            or_(
                UserAccount.display_name.contains(keyword, autoescape=True),
                UserAccount.staff_no.contains(keyword, autoescape=True),
                StaffProfile.licence_no.contains(keyword, autoescape=True),
            )
        )
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = (StaffProfile.submitted_at, StaffProfile.id) if oldest_submitted_first else (StaffProfile.id,)
    rows = list(db.scalars(stmt.order_by(*order).limit(limit).offset(offset)))
    return rows, total


def admin_update_profile(db: Session, actor: Actor, profile_id: int, data: AdminProfileIn) -> StaffProfile:
    """Set title, department, prescription right, service modes and prices, service on/off."""
    profile = get_profile(db, actor, profile_id)
    _check_department(db, actor, data.department_id)
    _check_title(profile.profession, data.title)
    if data.prescription_right and profile.profession != Profession.DOCTOR:
        # 处方管理办法 第八条: only registered physicians hold prescription rights.
        raise InvalidInput.field(
            "body.prescription_right",
            "not_a_doctor",
            "只有医师可授予处方权",
            "Only doctors may hold prescription rights",
        )
    db.execute(
        update(StaffProfile)
        .where(StaffProfile.id == profile.id)
        .values(
            title=data.title,
            department_id=data.department_id,
            prescription_right=data.prescription_right,
            service_on=data.service_on,
            updated_at=utcnow(),
        )
    )
    for mode, setting in data.modes.items():
        upsert(
            db,
            StaffServiceMode.__table__,  # type: ignore[arg-type]
            {
                "institution_id": actor.institution_id,
                "profile_id": profile.id,
                "mode": mode.value,
                "enabled": setting.enabled,
                "price_fen": setting.price_fen,
            },
            keys=["profile_id", "mode"],
            updates=["enabled", "price_fen"],
        )
    audit.record(
        db,
        actor.audit(),
        "staff_profile.update",
        resource_type="staff_profile",
        resource_id=profile.id,
        detail=data.model_dump(mode="json"),
    )
    return get_profile(db, actor, profile.id)
