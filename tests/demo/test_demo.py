"""The demo hospital loads completely, and loading it again changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.demo import data, load_demo
from ihis.identity import idnumbers
from ihis.identity.models import RoleAssignment, UserAccount, Visitor
from ihis.organization.models import Department, StaffProfile
from ihis.settings import Settings
from ihis.tenancy.models import Institution


def _counts(db: Session) -> dict[str, int]:
    """Rows of the demo institution (tests that really commit may leave other institutions behind)."""
    inst = db.scalar(select(Institution.id).where(Institution.code == data.INSTITUTION_CODE))
    return {
        name: db.scalar(select(func.count()).select_from(model).where(model.institution_id == inst)) or 0
        for name, model in (
            ("accounts", UserAccount),
            ("roles", RoleAssignment),
            ("visitors", Visitor),
            ("departments", Department),
            ("profiles", StaffProfile),
        )
    }


def test_demo_loads_the_hospital_and_is_idempotent(database, db: Session, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    first = load_demo(database, settings)
    after_first = _counts(db)
    second = load_demo(database, settings)
    assert _counts(db) == after_first
    assert "nothing new" in second and "nothing new" not in first
    assert after_first["departments"] == len(data.DEPARTMENTS)
    assert after_first["profiles"] == len(data.DOCTORS) + len(data.PHARMACISTS)
    staff = db.scalar(
        select(func.count())
        .select_from(UserAccount)
        .join(Institution, Institution.id == UserAccount.institution_id)
        .where(UserAccount.kind == "staff", Institution.code == data.INSTITUTION_CODE)
    )
    assert staff == len(data.ALL_STAFF) >= 20 + 3 + 6


def test_demo_summary_names_every_role_and_both_apps(database, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    text = load_demo(database, settings)
    for role in ("patient", "doctor", "pharmacist", "operations", "finance", "auditor", "super_admin"):
        assert role in text
    assert "/app/" in text and "/console/" in text


def test_demo_identities_are_checksum_valid_and_children_under_six_exist() -> None:
    people = data.all_identities()
    assert all(idnumbers.is_valid(p.id_number) for p in people)
    ages = [idnumbers.age_facts(idnumbers.parse_id_number(p.id_number).birth_date) for p in people]
    assert any(a.under_six for a in ages), "the demo needs a child under 6 (prescribing rules)"
    assert any(a.is_minor and not a.under_six for a in ages)
