"""Factories for identity and access tests: real login flows, TOTP enrolment, moving time back.

secret = enrol_totp(db, account)                                   # TOTP on, as if confirmed
staff_login(client, inst, account.username, STAFF_PASSWORD, secret)  # the real HTTP flow
admin = make_admin(client, db, inst, settings)                     # signed-in it_admin + step-up
"""

from __future__ import annotations

import datetime
import datetime as dt
import io
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity import mfa, sessions, throttle
from ihis.identity.models import AuthSession, LoginFailure, UserAccount
from ihis.platform.clock import utcnow
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_staff

API = "/api/v1"


@pytest.fixture(autouse=True)
def fresh_ip_counts() -> Iterator[None]:
    """Per-IP counts live in process memory: start and end every test with none (import to use)."""
    throttle.reset_ip_counts()
    yield
    throttle.reset_ip_counts()


def enrol_totp(db: Session, account: UserAccount) -> str:
    """Give ``account`` a confirmed TOTP secret (as if enrolled through the app); returns it."""
    secret = mfa.new_totp_secret()
    db.execute(
        update(UserAccount)
        .where(UserAccount.id == account.id)
        .values(totp_secret=secret, totp_enabled_at=utcnow())
    )
    db.commit()
    return secret


_last_step: dict[str, int] = {}


def totp(secret: str) -> str:
    """A code for ``secret`` the server has not seen yet: codes are single use (RFC 6238 §5.2),
    so successive calls walk through the accepted window (one step back, now, one ahead) and
    wait for the next 30-second step only when all three are spent."""
    generator = pyotp.TOTP(secret)
    while True:
        current = generator.timecode(datetime.datetime.now(datetime.UTC))
        step = max(current - 1, _last_step.get(secret, current - 2) + 1)
        if step <= current + 1:
            _last_step[secret] = step
            return str(generator.generate_otp(step))
        time.sleep(0.5)


def use_csrf_cookie(client: TestClient) -> None:
    """What the console does: echo the readable CSRF cookie in the header of unsafe requests."""
    csrf = client.cookies.get(sessions.CSRF_COOKIE)
    if csrf:
        client.headers["X-CSRF-Token"] = csrf


def staff_login(
    client: TestClient, inst: Institution, username: str, password: str, totp_secret: str | None
) -> dict[str, Any]:
    """The real web flow: password, then (if a secret is given) the TOTP code. Returns the last body."""
    response = client.post(
        f"{API}/auth/staff/login",
        json={"username": username, "password": password, "client": "web"},
        headers={"X-IHIS-Institution": inst.code},
    )
    assert response.status_code == 200, response.text
    use_csrf_cookie(client)
    body: dict[str, Any] = response.json()
    if totp_secret is not None and body["next"] == "mfa":
        verified = client.post(f"{API}/auth/mfa/verify", json={"code": totp(totp_secret)})
        assert verified.status_code == 200, verified.text
        body = verified.json()
    return body


def grant_step_up(db: Session, session_id: int) -> None:
    """As if the session re-authenticated just now."""
    sessions.mark_step_up(db, session_id)
    db.commit()


def make_admin(
    client: TestClient,
    db: Session,
    inst: Institution,
    settings: Settings,
    *,
    roles: tuple[str, ...] = ("it_admin",),
    step_up: bool = True,
    **kw: Any,
) -> UserAccount:
    """A signed-in administrator on ``client`` (fresh step-up unless ``step_up=False``)."""
    admin = make_staff(db, inst, roles=roles, **kw)
    issued = login_as(client, db, admin, settings)
    if step_up:
        grant_step_up(db, issued.session_id)
    return admin


def session_row(db: Session, session_id: int) -> AuthSession:
    db.expire_all()
    row = db.get(AuthSession, session_id)
    assert row is not None
    return row


def current_session_id(db: Session, user_id: int) -> int:
    """The newest session of a user."""
    found = db.scalar(
        select(AuthSession.id).where(AuthSession.user_id == user_id).order_by(AuthSession.id.desc())
    )
    assert found is not None
    return found


def age_login_failures(db: Session, principal: str, minutes: float) -> None:
    """Move a principal's failure rows ``minutes`` into the past (instead of sleeping)."""
    for row in db.scalars(select(LoginFailure).where(LoginFailure.principal == principal)):
        row.at = row.at - dt.timedelta(minutes=minutes)
    db.flush()
    db.commit()


def age_session(db: Session, session_id: int, *, idle_minutes: float = 0, created_hours: float = 0) -> None:
    """Make a session look idle for ``idle_minutes`` and/or ``created_hours`` older."""
    row = session_row(db, session_id)
    row.last_seen_at = row.last_seen_at - dt.timedelta(minutes=idle_minutes)
    row.created_at = row.created_at - dt.timedelta(hours=created_hours)
    row.absolute_expires_at = row.absolute_expires_at - dt.timedelta(hours=created_hours)
    db.flush()
    db.commit()


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    """An xlsx workbook whose first sheet holds ``rows`` (first row = header)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem+json body minus what differs on every request."""
    return {k: v for k, v in problem.items() if k != "request_id"}
