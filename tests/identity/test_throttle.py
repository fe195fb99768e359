"""Login throttling: per-principal lockout in the database, per-IP moving window via ``limits``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from ihis.identity import throttle
from ihis.platform.db import Database
from ihis.platform.errors import RateLimited
from ihis.settings import Settings
from tests.factories import make_institution
from tests.factories_auth import age_login_failures


@pytest.fixture(autouse=True)
def _fresh_ip_counts() -> Iterator[None]:
    throttle.reset_ip_counts()
    yield
    throttle.reset_ip_counts()


def test_principal_key_normalises_usernames_and_phones() -> None:
    assert throttle.principal_key(1, "staff", " Dr.Wang ") == throttle.principal_key(1, "staff", "dr.wang")
    assert throttle.principal_key(1, "patient", "+86 139 1234 5678") == throttle.principal_key(
        1, "patient", "13912345678"
    )
    assert throttle.principal_key(1, "staff", "wang") != throttle.principal_key(2, "staff", "wang")
    assert throttle.principal_key(1, "staff", "wang") != throttle.principal_key(1, "patient", "wang")


def test_principal_is_locked_after_threshold_failures_and_unlocks_when_they_age(
    db: Session, database: Database, settings: Settings
) -> None:
    inst = make_institution(db)
    db.commit()
    principal = throttle.principal_key(inst.id, "staff", "nobody-here")
    for _ in range(settings.lockout_threshold - 1):
        throttle.record_login_failure(database, inst.id, principal, None)
    throttle.check_login_allowed(db, settings, principal, None)  # one below the threshold: allowed
    throttle.record_login_failure(database, inst.id, principal, None)
    with pytest.raises(RateLimited) as locked:
        throttle.check_login_allowed(db, settings, principal, None)
    retry = int(locked.value.headers["Retry-After"])
    assert settings.lockout_minutes * 60 - 5 <= retry <= settings.lockout_minutes * 60 + 1
    assert throttle.is_locked(db, settings, principal)

    age_login_failures(db, principal, settings.lockout_window_minutes + 1)
    throttle.check_login_allowed(db, settings, principal, None)
    assert not throttle.is_locked(db, settings, principal)


def test_lock_lasts_lockout_minutes_from_the_last_failure(
    db: Session, database: Database, settings: Settings
) -> None:
    inst = make_institution(db)
    db.commit()
    principal = throttle.principal_key(inst.id, "staff", "someone")
    for _ in range(settings.lockout_threshold):
        throttle.record_login_failure(database, inst.id, principal, None)
    long = settings.model_copy(update={"lockout_window_minutes": 60, "lockout_minutes": 10})
    age_login_failures(db, principal, 9)
    with pytest.raises(RateLimited):
        throttle.check_login_allowed(db, long, principal, None)
    age_login_failures(db, principal, 2)
    throttle.check_login_allowed(db, long, principal, None)


def test_clearing_failures_forgets_them(db: Session, database: Database, settings: Settings) -> None:
    inst = make_institution(db)
    db.commit()
    principal = throttle.principal_key(inst.id, "staff", "forgetful")
    for _ in range(settings.lockout_threshold):
        throttle.record_login_failure(database, inst.id, principal, None)
    throttle.clear_login_failures(db, principal)
    throttle.check_login_allowed(db, settings, principal, None)


def test_ip_is_throttled_after_its_failure_limit_per_minute(
    db: Session, database: Database, settings: Settings
) -> None:
    inst = make_institution(db)
    db.commit()
    limit = settings.ip_login_limit_per_minute
    for n in range(limit):
        # different principals: only the IP is common
        throttle.record_login_failure(
            database, inst.id, throttle.principal_key(inst.id, "staff", f"u{n}"), "10.9.8.7"
        )
    fresh = throttle.principal_key(inst.id, "staff", "fresh")
    with pytest.raises(RateLimited) as limited:
        throttle.check_login_allowed(db, settings, fresh, "10.9.8.7")
    assert 1 <= int(limited.value.headers["Retry-After"]) <= 61
    throttle.check_login_allowed(db, settings, fresh, "10.9.8.8")


def test_ip_limit_is_shared_through_redis_when_configured(
    db: Session, database: Database, settings: Settings, redis_url: str
) -> None:
    inst = make_institution(db)
    db.commit()
    with_redis = settings.model_copy(update={"redis_url": redis_url, "ip_login_limit_per_minute": 2})
    redis_db = Database(with_redis, database.engine)
    redis_db.session = database.session  # type: ignore[method-assign]  # stay inside the test's transaction
    principal = throttle.principal_key(inst.id, "staff", "r")
    ip = "10.77.0.1"
    throttle.record_login_failure(redis_db, inst.id, principal, ip)
    throttle.check_login_allowed(db, with_redis, principal, ip)
    throttle.record_login_failure(redis_db, inst.id, principal, ip)
    with pytest.raises(RateLimited):
        throttle.check_login_allowed(db, with_redis, principal, ip)
    # the in-memory limiter of this process has seen none of it
    throttle.check_login_allowed(
        db, settings.model_copy(update={"ip_login_limit_per_minute": 2}), principal, ip
    )
