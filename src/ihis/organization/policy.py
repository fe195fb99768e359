"""Who may do what in the organization domain, and the rules a profile must meet to be approved.

The review lifecycle is data (``REVIEW_TRANSITIONS``); services apply it with guarded updates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, or_, select

from ihis.identity.models import UserAccount
from ihis.organization.models import (
    Department,
    ReviewStatus,
    ServicePrice,
    StaffProfile,
    StaffServiceMode,
)
from ihis.organization.titles import Profession, title_named
from ihis.platform.errors import FieldError, InvalidInput
from ihis.settings import Settings

# DOMAIN §2: reviewing pharmacists need a pharmacist title and 3 years of dispensing experience.
PHARMACIST_MIN_PRACTICE_YEARS_DEFAULT = 3


@dataclass(frozen=True)
class Transition:
    sources: frozenset[ReviewStatus]
    target: ReviewStatus
    by: str  # who triggers it: "owner" | "reviewer"


# The qualification review state machine (docs/organization.md draws it).
REVIEW_TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(
        frozenset({ReviewStatus.DRAFT, ReviewStatus.REJECTED}), ReviewStatus.SUBMITTED, "owner"
    ),
    "approve": Transition(frozenset({ReviewStatus.SUBMITTED}), ReviewStatus.APPROVED, "reviewer"),
    "reject": Transition(frozenset({ReviewStatus.SUBMITTED}), ReviewStatus.REJECTED, "reviewer"),
}

# While a profile is under review or approved, its owner may not change what was reviewed.
OWNER_EDITABLE_STATES = frozenset({ReviewStatus.DRAFT, ReviewStatus.REJECTED})

# A self-registered account waits in this status until its profile is approved (identity domain).
PENDING_REVIEW = "pending_review"
# AuthSession channel of an applicant's restricted session (see applicant_sessions.py).
APPLICATION_CHANNEL = "application"

# Professions that consult online and so appear in the patient-end directory.
LISTED_PROFESSIONS = (Profession.DOCTOR.value, Profession.NURSE.value)


def practice_years(started_on: dt.date | None, today: dt.date) -> int | None:
    """Completed years of practice since ``started_on`` (None if unknown)."""
    if started_on is None:
        return None
    years = today.year - started_on.year - ((today.month, today.day) < (started_on.month, started_on.day))
    return max(0, years)


def min_practice_years(profession: str, settings: Settings) -> int:
    """The configured minimum practice years for a profession (0 when none applies)."""
    if profession == Profession.DOCTOR:
        # BJ 5.5.2.1: >= 3 years of independent clinical practice; NX: 5 (configurable).
        return settings.doctor_min_practice_years
    if profession == Profession.PHARMACIST:
        return int(getattr(settings, "pharmacist_min_practice_years", PHARMACIST_MIN_PRACTICE_YEARS_DEFAULT))
    return 0


def title_matches(profession: str, title: str | None) -> bool:
    found = title_named(title or "")
    return found is not None and found.profession == profession


def completeness_errors(profile: StaffProfile, document_count: int) -> list[FieldError]:
    """What is still missing before a profile can be submitted for review."""
    missing: list[FieldError] = []

    def need(field: str, zh: str, en: str) -> None:
        missing.append(FieldError(f"profile.{field}", "required_for_review", zh, en))

    if not title_matches(profile.profession, profile.title):
        need("title", "请选择与执业类别相符的职称", "Choose a title of your profession")
    if profile.practice_started_on is None:
        need("practice_started_on", "请填写执业起始日期", "Enter the date you started practising")
    if not profile.licence_no:
        need("licence_no", "请填写执业证书编码", "Enter the practice licence number")
    if profile.profession != Profession.PHARMACIST and profile.department_id is None:
        need("department_id", "请选择科室", "Choose a department")
    if document_count == 0:
        need("documents", "请上传资质证明材料", "Upload your qualification documents")
    return missing


def approval_errors(profile: StaffProfile, settings: Settings, today: dt.date) -> list[FieldError]:
    """Rules an approval must satisfy (DOMAIN §2), beyond being complete."""
    errors: list[FieldError] = []
    if not title_matches(profile.profession, profile.title):
        errors.append(
            FieldError(
                "title", "title_profession_mismatch", "职称与执业类别不符", "Title does not match profession"
            )
        )
    required = min_practice_years(profile.profession, settings)
    years = practice_years(profile.practice_started_on, today)
    if required and (years is None or years < required):
        errors.append(
            FieldError(
                "practice_years",
                "practice_years_too_few",
                f"执业年限不足 {required} 年，不能通过审核",
                f"At least {required} years of practice are required for approval",
            )
        )
    return errors


def raise_if(errors: list[FieldError]) -> None:
    if errors:
        names = ", ".join(e.field for e in errors)
        first = errors[0]
        raise InvalidInput(first.message_zh, first.message_en + f" ({names})", errors=errors)


def mode_priced(mode: str | None = None) -> ColumnElement[bool]:
    """An enabled service mode of the profile that has a price (its own, or its title's)."""
    title_price = exists().where(
        ServicePrice.institution_id == StaffProfile.institution_id,
        ServicePrice.title == StaffProfile.title,
        ServicePrice.mode == StaffServiceMode.mode,
    )
    conditions = [
        StaffServiceMode.profile_id == StaffProfile.id,
        StaffServiceMode.enabled.is_(True),
        or_(StaffServiceMode.price_fen.is_not(None), title_price),
    ]
    if mode is not None:
        conditions.append(StaffServiceMode.mode == mode)
    return exists(select(StaffServiceMode.id).where(*conditions))


def listed_in_directory(institution_id: int, registered_subjects: set[str]) -> ColumnElement[bool]:
    """Profiles the patient end may see: approved, service on, active account, open department.

    Needs ``StaffProfile`` joined with ``UserAccount`` and ``Department``. Departments whose subject
    is no longer registered at the institution disappear too (BJ 5.6.1.1: online subjects never
    exceed the physical institution's).
    """
    return and_(
        StaffProfile.institution_id == institution_id,
        StaffProfile.review_status == ReviewStatus.APPROVED.value,
        StaffProfile.service_on.is_(True),
        StaffProfile.profession.in_(LISTED_PROFESSIONS),
        UserAccount.status == "active",
        Department.enabled.is_(True),
        Department.subject_code.in_(sorted(registered_subjects)),
    )
