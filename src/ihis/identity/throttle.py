"""Login throttling: per-principal lockout (database) and per-IP moving-window limit (``limits``).

DOMAIN §10: 5 failed sign-ins within 15 minutes lock the principal for 15 minutes after the last
failure; the numbers are ``Settings.lockout_*``. A *principal* is the keyed hash of the normalised
username or phone, so an unknown username is throttled exactly like an existing one and the
answer never reveals whether an account exists.

The per-IP limit counts *failed* attempts only (``Settings.ip_login_limit_per_minute`` in a
moving 60-second window): a hospital's staff often sign in from behind one NAT address at the
start of a shift, and counting their successful sign-ins would lock the whole ward out. The
limiter keeps its counts in process memory, or in Redis when ``Settings.redis_url`` is set so
that every API process shares them.

Order of calls in a login endpoint::

    check_login_allowed(db, settings, principal, ip)      # before verifying the secret
    ... verify ...
    # on failure, AFTER the request's own transaction has ended (on SQLite an open writing
    # transaction holds the database's write lock, so a second writer would wait for it):
    record_login_failure(database, institution_id, principal, ip)
    # on success, inside the request's unit of work:
    clear_login_failures(db, principal)
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

from limits import RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ihis.identity.models import LoginFailure
from ihis.platform.clock import utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.platform.db import Database
from ihis.platform.errors import RateLimited
from ihis.settings import Settings

_IP_NAMESPACE = "ihis-login-ip"
_REGISTER_NAMESPACE = "ihis-staff-register-ip"
# Self-registration is public and answers "username taken": limit how fast one address can probe.
STAFF_REGISTRATIONS_PER_IP_PER_HOUR = 20
_TOO_MANY_ZH = "登录尝试次数过多，请稍后再试"
_TOO_MANY_EN = "Too many sign-in attempts; try again later"

_limiters: dict[str, MovingWindowRateLimiter] = {}
_storages: dict[str, Storage] = {}
_lock = threading.Lock()


def _normalise(kind: str, identifier: str) -> str:
    value = identifier.strip()
    if kind == "patient" or value.lstrip("+").replace(" ", "").replace("-", "").isdigit():
        digits = re.sub(r"[\s\-]", "", value)
        # "+86 139..." and "139..." are the same mainland mobile number.
        return digits.removeprefix("+86") if len(digits) == 14 else digits
    return value.lower()


def principal_key(institution_id: int, kind: str, identifier: str) -> str:
    """The throttling key of a username/phone: the same whether or not the account exists."""
    return blind_index(f"{institution_id}:{kind}:{_normalise(kind, identifier)}", "login_principal")


def _limiter(settings: Settings) -> MovingWindowRateLimiter:
    uri = settings.redis_url or "memory://"
    with _lock:
        limiter = _limiters.get(uri)
        if limiter is None:
            storage = storage_from_string(uri)
            assert isinstance(storage, Storage)  # a synchronous storage for a synchronous limiter
            _storages[uri] = storage
            limiter = _limiters[uri] = MovingWindowRateLimiter(storage)
        return limiter


def _ip_item(settings: Settings) -> RateLimitItemPerMinute:
    return RateLimitItemPerMinute(settings.ip_login_limit_per_minute)


def reset_ip_counts() -> None:
    """Forget every in-memory per-IP count (tests; an operator clearing a false alarm)."""
    with _lock:
        for uri, storage in _storages.items():
            if uri.startswith("memory://"):
                storage.reset()


def _locked_until(db: Session, settings: Settings, principal: str, now: dt.datetime) -> dt.datetime | None:
    since = now - dt.timedelta(minutes=settings.lockout_window_minutes)
    count, last = db.execute(
        select(func.count(LoginFailure.id), func.max(LoginFailure.at)).where(
            LoginFailure.principal == principal, LoginFailure.at > since
        )
    ).one()
    if count < settings.lockout_threshold or last is None:
        return None
    if last.tzinfo is None:  # SQLite aggregates bypass the column type's result processing
        last = last.replace(tzinfo=dt.UTC)
    until: dt.datetime = last + dt.timedelta(minutes=settings.lockout_minutes)
    return until if until > now else None


def check_login_allowed(db: Session, settings: Settings, principal: str, ip: str | None) -> None:
    """Raise ``RateLimited`` (429 + Retry-After) if the principal is locked or the IP is over its limit."""
    now = utcnow()
    until = _locked_until(db, settings, principal, now)
    if until is not None:
        raise RateLimited(int((until - now).total_seconds()) + 1, _TOO_MANY_ZH, _TOO_MANY_EN)
    if ip is None:
        return
    limiter = _limiter(settings)
    item = _ip_item(settings)
    if not limiter.test(item, _IP_NAMESPACE, ip):
        stats = limiter.get_window_stats(item, _IP_NAMESPACE, ip)
        raise RateLimited(int(stats.reset_time - time.time()) + 1, _TOO_MANY_ZH, _TOO_MANY_EN)


def is_locked(db: Session, settings: Settings, principal: str) -> bool:
    """True if the principal has reached the lockout threshold (used to audit the lockout itself)."""
    return _locked_until(db, settings, principal, utcnow()) is not None


def record_login_failure(database: Database, institution_id: int, principal: str, ip: str | None) -> None:
    """Count one failure in its own committed unit of work (it survives the request's rollback)."""
    with database.unit_of_work(write=True) as db:
        db.add(LoginFailure(institution_id=institution_id, principal=principal, ip=ip, at=utcnow()))
    if ip is not None:
        settings = database.settings
        _limiter(settings).hit(_ip_item(settings), _IP_NAMESPACE, ip)


def check_registration_allowed(settings: Settings, ip: str | None) -> None:
    """Count one staff self-registration attempt from ``ip``; 429 beyond the hourly limit."""
    if ip is None:
        return
    item = RateLimitItemPerHour(STAFF_REGISTRATIONS_PER_IP_PER_HOUR)
    limiter = _limiter(settings)
    if not limiter.hit(item, _REGISTER_NAMESPACE, ip):
        stats = limiter.get_window_stats(item, _REGISTER_NAMESPACE, ip)
        raise RateLimited(int(stats.reset_time - time.time()) + 1)


def clear_login_failures(db: Session, principal: str) -> None:
    """A successful sign-in forgets the principal's earlier failures."""
    db.execute(delete(LoginFailure).where(LoginFailure.principal == principal))
