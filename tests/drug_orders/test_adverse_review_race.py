"""Two quality staff review the same adverse-reaction report at the same moment, on separate connections
with real commits: exactly one review lands (its note kept), the others get 409; the same for the
national report — on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.drug_orders import aftercare
from ihis.drug_orders.models import AdverseReaction
from ihis.drug_orders.ordering import create_for_prescription
from ihis.formulary.demo import seed_demo_formulary
from ihis.identity.access import Actor
from ihis.platform.clock import local_today, utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict
from tests.factories import make_staff
from tests.factories_drug_orders import approved_prescription
from tests.factories_registration import booking_world, make_booker

pytestmark = pytest.mark.commits

REVIEWERS = 4
Step = Callable[[Session], object]


def _quality(user_id: int, institution_id: int, name: str) -> Actor:
    return Actor(
        user_id=user_id,
        institution_id=institution_id,
        kind="staff",
        display_name=name,
        roles=frozenset({"quality"}),
        session_id=0,
    )


def _race(database: Database, calls: list[Step]) -> list[bool]:
    """Run the calls at once, each on its own connection; True where it moved the report, False on 409."""
    barrier = threading.Barrier(len(calls))

    def one(step: Step) -> bool:
        barrier.wait()
        try:
            with database.unit_of_work() as db:
                step(db)
            return True
        except Conflict:
            return False

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def test_concurrent_reviews_and_reports_land_once(committed: tuple[Database, dict[str, int]]) -> None:
    database, made = committed
    with database.unit_of_work() as db:
        world = booking_world(db)
        made["institution_id"] = world.inst.id
        drugs = seed_demo_formulary(db, world.inst.id)
        who = make_booker(db, world)
        rx = approved_prescription(db, world, who, drugs, [("D001", 1)])
        order = create_for_prescription(db, rx.id)
        assert order is not None
        report = AdverseReaction(
            institution_id=world.inst.id,
            order_id=order.id,
            account_id=order.account_id,
            visitor_id=order.visitor_id,
            description="服药后出现皮疹",
            onset_date=local_today(),
            severity="moderate",
            reported_at=utcnow(),
        )
        db.add(report)
        staff = [make_staff(db, world.inst, roles=("quality",)) for _ in range(REVIEWERS)]
        db.flush()
        report_id = report.id
        actors = [_quality(s.id, world.inst.id, s.display_name) for s in staff]

    def review(actor: Actor, note: str) -> Step:
        return lambda db: aftercare.review(db, actor, report_id, note)

    reviews = _race(database, [review(a, f"评价意见 {i}") for i, a in enumerate(actors)])
    assert sorted(reviews) == [False] * (REVIEWERS - 1) + [True]
    winner = reviews.index(True)

    def national(actor: Actor, number: str) -> Step:
        return lambda db: aftercare.report_nationally(db, actor, report_id, number, None)

    filed = _race(database, [national(a, f"ADR-{i}") for i, a in enumerate(actors)])
    assert sorted(filed) == [False] * (REVIEWERS - 1) + [True]

    with database.unit_of_work(write=False) as db:
        row = db.scalar(select(AdverseReaction).where(AdverseReaction.id == report_id))
        assert row is not None and row.status == "reported"
        assert row.reviewed_by == actors[winner].user_id and row.review_note == f"评价意见 {winner}"
        assert row.national_report_no == f"ADR-{filed.index(True)}"
        assert row.national_reported_by == actors[filed.index(True)].user_id
