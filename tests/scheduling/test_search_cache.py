"""The public search's read cache: served while nothing it shows changed, dropped when it may have.

Rows edited directly (not through the scheduling services) do not reach the cache: the tests use
that to tell a cached page from a fresh one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.platform.clock import utcnow
from ihis.scheduling import cache
from ihis.scheduling.cache import SearchCache
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.slots import hold_slot, release_slot
from ihis.settings import Settings
from tests.factories import login_as, make_institution
from tests.factories_org import make_department
from tests.factories_scheduling import make_scheduler, make_scheduling_doctor, make_session

URL = "/api/v1/public/sessions"
ADMIN = "/api/v1/admin/scheduling/sessions"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    """A controllable clock for this app's search cache (TTL one minute)."""
    fake = Clock()
    app.state.search_cache = SearchCache(ttl=dt.timedelta(minutes=1), clock=fake)
    return fake


@pytest.fixture
def world(db: Session, clock: Clock) -> dict[str, Any]:
    inst = make_institution(db)
    dept = make_department(db, inst, name="心内科")
    other_dept = make_department(db, inst, name="呼吸科")
    doctor = make_scheduling_doctor(db, inst, dept)
    colleague = make_scheduling_doctor(db, inst, other_dept)
    booked = make_session(db, doctor, days=1, status="published", capacity=3)
    elsewhere = make_session(db, colleague, days=2, status="published", capacity=3)
    db.commit()
    return {"inst": inst, "dept": dept, "other_dept": other_dept, "booked": booked, "elsewhere": elsewhere}


def _remaining(client: TestClient, world: dict[str, Any], **params: Any) -> dict[int, int]:
    r = client.get(URL, headers={"X-IHIS-Institution": world["inst"].code}, params=params)
    assert r.status_code == 200, r.text
    return {item["id"]: item["remaining"] for item in r.json()["items"]}


def _set_booked_behind_the_cache(db: Session, session_id: int, booked: int) -> None:
    db.execute(update(ClinicSession).where(ClinicSession.id == session_id).values(booked=booked))
    db.commit()


def test_a_repeated_search_is_served_from_the_cache(
    anon: TestClient, db: Session, world: dict[str, Any]
) -> None:
    s = world["booked"]
    assert _remaining(anon, world) == {s.id: 3, world["elsewhere"].id: 3}
    _set_booked_behind_the_cache(db, s.id, 1)
    assert _remaining(anon, world)[s.id] == 3  # cached
    assert _remaining(anon, world, department_id=world["dept"].id) == {s.id: 2}  # another key: fresh


def test_a_booking_shows_at_once_in_the_pages_listing_the_session(
    anon: TestClient, db: Session, world: dict[str, Any]
) -> None:
    s = world["booked"]
    assert _remaining(anon, world)[s.id] == 3
    assert hold_slot(db, s.id)
    db.commit()
    assert _remaining(anon, world)[s.id] == 2
    assert release_slot(db, s.id)
    db.commit()
    assert _remaining(anon, world)[s.id] == 3


def test_a_booking_keeps_the_pages_that_do_not_list_the_session(
    anon: TestClient, db: Session, world: dict[str, Any]
) -> None:
    s, elsewhere = world["booked"], world["elsewhere"]
    other = {"department_id": world["other_dept"].id}
    assert _remaining(anon, world, **other) == {elsewhere.id: 3}
    _set_booked_behind_the_cache(db, elsewhere.id, 1)
    assert hold_slot(db, s.id)
    db.commit()
    assert _remaining(anon, world, **other) == {elsewhere.id: 3}  # still cached: s is not on it


def test_an_availability_filtered_page_is_dropped_on_any_booking(
    anon: TestClient, db: Session, world: dict[str, Any]
) -> None:
    s, elsewhere = world["booked"], world["elsewhere"]
    other = {"department_id": world["other_dept"].id, "available_only": True}
    assert _remaining(anon, world, **other) == {elsewhere.id: 3}
    _set_booked_behind_the_cache(db, elsewhere.id, 3)  # full, unseen by the cache
    assert hold_slot(db, s.id)  # a booking elsewhere: who is available may have changed
    db.commit()
    assert _remaining(anon, world, **other) == {}


def test_a_stopped_session_is_never_offered_from_the_cache(
    client: TestClient, anon: TestClient, db: Session, world: dict[str, Any], settings: Settings
) -> None:
    s = world["booked"]
    login_as(client, db, make_scheduler(db, world["inst"]), settings)
    assert s.id in _remaining(anon, world)
    doctor_page = f"/api/v1/public/doctors/{s.doctor_id}/sessions"
    h = {"X-IHIS-Institution": world["inst"].code}
    assert [i["id"] for i in anon.get(doctor_page, headers=h).json()["items"]] == [s.id]
    assert client.post(f"{ADMIN}/{s.id}/stop", json={"reason": "医师临时出差"}).status_code == 200
    assert s.id not in _remaining(anon, world)
    assert anon.get(doctor_page, headers=h).json()["items"] == []


def test_publishing_and_capacity_changes_show_at_once(
    client: TestClient, anon: TestClient, db: Session, world: dict[str, Any], settings: Settings
) -> None:
    s = world["booked"]
    login_as(client, db, make_scheduler(db, world["inst"]), settings)
    assert _remaining(anon, world)[s.id] == 3
    draft = make_session(db, make_scheduling_doctor(db, world["inst"], world["dept"]), days=3)
    db.commit()
    assert client.post(f"{ADMIN}/{draft.id}/publish").status_code == 200
    assert draft.id in _remaining(anon, world)
    assert client.post(f"{ADMIN}/{s.id}/add-slots", json={"count": 2, "reason": "加号"}).status_code == 200
    assert _remaining(anon, world)[s.id] == 5


def test_a_page_expires_after_the_ttl(
    anon: TestClient, db: Session, world: dict[str, Any], clock: Clock
) -> None:
    s = world["booked"]
    assert _remaining(anon, world)[s.id] == 3
    _set_booked_behind_the_cache(db, s.id, 1)  # e.g. booked through another API process
    clock.now += dt.timedelta(seconds=29)  # pages live between half and all of the TTL (jitter)
    assert _remaining(anon, world)[s.id] == 3
    clock.now += dt.timedelta(seconds=31)
    assert _remaining(anon, world)[s.id] == 2


def test_a_page_expires_when_its_first_session_starts() -> None:
    fake = Clock()
    pages = SearchCache(ttl=dt.timedelta(hours=1), clock=fake)
    starts = fake.now + dt.timedelta(minutes=10)
    pages.put(
        "k", cache.seen(), b"page", session_ids=frozenset({1}), counts_matter=False, earliest_start=starts
    )
    assert pages.get("k") == b"page"
    fake.now = starts
    assert pages.get("k") is None


def test_a_read_racing_a_commit_is_not_kept(db: Session, world: dict[str, Any]) -> None:
    s = world["booked"]
    pages = SearchCache()
    read_from = cache.seen()  # the read starts...
    assert hold_slot(db, s.id)
    db.commit()  # ...a booking of a session it lists commits before the page is stored
    pages.put(
        "listed", read_from, b"old", session_ids=frozenset({s.id}), counts_matter=False, earliest_start=None
    )
    pages.put(
        "unlisted", read_from, b"ok", session_ids=frozenset({-1}), counts_matter=False, earliest_start=None
    )
    assert pages.get("listed") is None
    assert pages.get("unlisted") == b"ok"


def test_pages_older_than_the_change_log_are_dropped(db: Session, world: dict[str, Any]) -> None:
    s = world["booked"]
    pages = SearchCache()
    pages.put(
        "k", cache.seen(), b"page", session_ids=frozenset({-1}), counts_matter=False, earliest_start=None
    )
    for _ in range(cache.SLOT_LOG_SIZE // 2 + 1):
        assert hold_slot(db, s.id) and release_slot(db, s.id)
        db.commit()
    assert pages.get("k") is None  # cannot tell what changed any more


def test_the_cache_holds_at_most_max_entries_least_recently_used_first() -> None:
    pages = SearchCache(max_entries=2)
    for key in ("a", "b"):
        pages.put(
            key, cache.seen(), key.encode(), session_ids=frozenset(), counts_matter=False, earliest_start=None
        )
    assert pages.get("a") == b"a"  # now "b" is the least recently used
    pages.put("c", cache.seen(), b"c", session_ids=frozenset(), counts_matter=False, earliest_start=None)
    assert len(pages) == 2 and pages.get("b") is None and pages.get("a") == b"a"
