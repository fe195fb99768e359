"""Review rules and the guarded transitions, below HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.organization import review_service
from ihis.organization.models import ReviewStatus, StaffProfile
from ihis.organization.policy import (
    REVIEW_TRANSITIONS,
    approval_errors,
    min_practice_years,
    practice_years,
    title_matches,
)
from ihis.platform.clock import local_today
from ihis.platform.errors import Conflict
from ihis.settings import Settings
from tests.factories import make_institution, make_staff
from tests.factories_org import make_department, make_profile, years_ago


def test_the_review_state_machine_allows_exactly_these_moves() -> None:
    moves = {
        (source.value, rule.target.value, event, rule.by)
        for event, rule in REVIEW_TRANSITIONS.items()
        for source in rule.sources
    }
    assert moves == {
        ("draft", "submitted", "submit", "owner"),
        ("rejected", "submitted", "submit", "owner"),
        ("submitted", "approved", "approve", "reviewer"),
        ("submitted", "rejected", "reject", "reviewer"),
    }


def test_a_stale_read_cannot_move_a_profile_twice(db: Session) -> None:
    inst = make_institution(db)
    profile = make_profile(db, make_staff(db, inst), department=make_department(db, inst), status="submitted")
    # Another reviewer approved it after we read it: our copy still says "submitted".
    db.execute(
        update(StaffProfile)
        .where(StaffProfile.id == profile.id)
        .values(review_status="approved")
        .execution_options(synchronize_session=False)
    )
    assert profile.review_status == ReviewStatus.SUBMITTED.value
    with pytest.raises(Conflict):
        review_service._transition(db, profile, "reject", review_reason="late")


def test_practice_years_count_completed_years() -> None:
    today = local_today()
    assert practice_years(years_ago(3, extra_days=0), today) == 3
    assert practice_years(years_ago(3, extra_days=-1), today) == 2
    assert practice_years(None, today) is None


def test_minimum_years_per_profession(settings: Settings) -> None:
    assert min_practice_years("doctor", settings) == settings.doctor_min_practice_years
    assert min_practice_years("doctor", settings.model_copy(update={"doctor_min_practice_years": 5})) == 5
    assert min_practice_years("pharmacist", settings) == 3
    assert min_practice_years("nurse", settings) == 0


def test_titles_belong_to_one_profession() -> None:
    assert title_matches("doctor", "主任医师") and title_matches("pharmacist", "主管药师")
    assert title_matches("nurse", "护士")
    assert not title_matches("doctor", "主任药师") and not title_matches("nurse", None)


def test_nurses_have_no_minimum_but_need_a_nurse_title(db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    nurse = make_profile(db, make_staff(db, inst), profession="nurse", title="护士", years=0)
    assert approval_errors(nurse, settings, local_today()) == []
    nurse.title = "主治医师"
    assert [e.field for e in approval_errors(nurse, settings, local_today())] == ["title"]
