"""Read models of staff profiles: the rows a screen needs, loaded in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.organization.models import (
    Department,
    QualificationDocument,
    ReviewDecision,
    ServiceMode,
    ServicePrice,
    StaffProfile,
    StaffServiceMode,
)
from ihis.organization.policy import practice_years
from ihis.organization.schemas import (
    DecisionOut,
    DocumentOut,
    ModeOut,
    StaffProfileDetailOut,
    StaffProfileOut,
)
from ihis.platform.clock import local_today


@dataclass(frozen=True)
class ModePrice:
    mode: ServiceMode
    enabled: bool
    override_fen: int | None
    title_price_fen: int | None

    @property
    def price_fen(self) -> int | None:
        """What a patient pays: the doctor's override if set, else the title's price."""
        return self.override_fen if self.override_fen is not None else self.title_price_fen

    @property
    def bookable(self) -> bool:
        return self.enabled and self.price_fen is not None


def effective_modes(
    db: Session, institution_id: int, profiles: Sequence[StaffProfile]
) -> dict[int, list[ModePrice]]:
    """Each profile's three modes with their effective prices (two queries for any number)."""
    ids = [p.id for p in profiles]
    rows: dict[tuple[int, str], StaffServiceMode] = {}
    if ids:
        for row in db.scalars(
            select(StaffServiceMode)
            .where(StaffServiceMode.profile_id.in_(ids))
            .execution_options(populate_existing=True)
        ):
            rows[(row.profile_id, row.mode)] = row
    prices = {
        (title, mode): fen
        for title, mode, fen in db.execute(
            select(ServicePrice.title, ServicePrice.mode, ServicePrice.price_fen).where(
                ServicePrice.institution_id == institution_id
            )
        )
    }
    result: dict[int, list[ModePrice]] = {}
    for profile in profiles:
        modes = []
        for mode in ServiceMode:
            setting = rows.get((profile.id, mode.value))
            modes.append(
                ModePrice(
                    mode=mode,
                    enabled=bool(setting and setting.enabled),
                    override_fen=setting.price_fen if setting else None,
                    title_price_fen=prices.get((profile.title or "", mode.value)),
                )
            )
        result[profile.id] = modes
    return result


def price_of(db: Session, profile: StaffProfile, mode: ServiceMode) -> int | None:
    """The price in fen a patient pays for ``mode`` with this profile, or None if not offered."""
    found = next(
        m for m in effective_modes(db, profile.institution_id, [profile])[profile.id] if m.mode == mode
    )
    return found.price_fen if found.enabled else None


def _mode_out(m: ModePrice) -> ModeOut:
    return ModeOut(
        mode=m.mode,
        enabled=m.enabled,
        price_override_fen=m.override_fen,
        title_price_fen=m.title_price_fen,
        price_fen=m.price_fen,
    )


def profile_outs(db: Session, profiles: Sequence[StaffProfile]) -> list[StaffProfileOut]:
    """Console view of profiles (with account, department and prices)."""
    if not profiles:
        return []
    institution_id = profiles[0].institution_id
    accounts = {
        a.id: a
        for a in db.scalars(select(UserAccount).where(UserAccount.id.in_({p.user_id for p in profiles})))
    }
    dept_ids = {p.department_id for p in profiles if p.department_id is not None}
    departments = (
        {d.id: d.name for d in db.scalars(select(Department).where(Department.id.in_(dept_ids)))}
        if dept_ids
        else {}
    )
    modes = effective_modes(db, institution_id, profiles)
    today = local_today()
    outs = []
    for p in profiles:
        account = accounts[p.user_id]
        outs.append(
            StaffProfileOut(
                id=p.id,
                user_id=p.user_id,
                display_name=account.display_name,
                staff_no=account.staff_no,
                account_status=account.status,
                profession=p.profession,
                department_id=p.department_id,
                department_name=departments.get(p.department_id) if p.department_id else None,
                title=p.title,
                licence_no=p.licence_no,
                qualification_no=p.qualification_no,
                practice_cert_no=p.practice_cert_no,
                practice_started_on=p.practice_started_on,
                practice_years=practice_years(p.practice_started_on, today),
                specialties=p.specialties,
                introduction=p.introduction,
                has_photo=p.photo_key is not None,
                prescription_right=p.prescription_right,
                service_on=p.service_on,
                review_status=p.review_status,
                review_reason=p.review_reason,
                submitted_at=p.submitted_at,
                reviewed_at=p.reviewed_at,
                modes=[_mode_out(m) for m in modes[p.id]],
            )
        )
    return outs


def profile_detail(db: Session, profile: StaffProfile) -> StaffProfileDetailOut:
    """One profile with its documents and review history."""
    (base,) = profile_outs(db, [profile])
    documents = db.scalars(
        select(QualificationDocument)
        .where(QualificationDocument.profile_id == profile.id)
        .order_by(QualificationDocument.id)
    ).all()
    decisions = db.execute(
        select(ReviewDecision, UserAccount.display_name)
        .join(UserAccount, UserAccount.id == ReviewDecision.reviewer_id)
        .where(ReviewDecision.profile_id == profile.id)
        .order_by(ReviewDecision.id)
    ).all()
    return StaffProfileDetailOut(
        **base.model_dump(),
        documents=[DocumentOut.model_validate(d) for d in documents],
        decisions=[
            DecisionOut(
                decision=d.decision,
                reason=d.reason,
                reviewer_id=d.reviewer_id,
                reviewer_name=name,
                decided_at=d.decided_at,
            )
            for d, name in decisions
        ],
    )


def modes_by_profile(
    db: Session, institution_id: int, profiles: Sequence[StaffProfile]
) -> dict[int, list[ModePrice]]:
    """Bookable modes only (enabled and priced), for the patient end."""
    grouped: dict[int, list[ModePrice]] = defaultdict(list)
    for pid, modes in effective_modes(db, institution_id, profiles).items():
        grouped[pid] = [m for m in modes if m.bookable]
    return grouped
