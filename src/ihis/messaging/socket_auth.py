"""Who is behind a WebSocket: the same sessions as HTTP (``identity/sessions.py``), checked again
while the socket lives.

Two ways in, never a token in the URL (URLs end up in proxy and access logs):

* browsers with the session cookie: the ``Origin`` header must be this deployment's origin (the
  request's own ``Host``, ``IHIS_PUBLIC_BASE_URL``, or one of ``IHIS_CHAT_ALLOWED_ORIGINS``) — the
  WebSocket form of the CSRF check (cross-site WebSocket hijacking);
* API clients with a bearer token: ``Authorization: Bearer <token>`` (native apps), or, where
  headers cannot be set (browser bearer clients), the subprotocol list
  ``Sec-WebSocket-Protocol: ihis.v1, ihis.bearer.<token>``; the server answers ``ihis.v1`` only.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from fastapi import Request, WebSocket
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, current_actor
from ihis.identity.models import AuthSession, UserAccount
from ihis.identity.sessions import TOUCH_INTERVAL
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Forbidden
from ihis.settings import Settings

SUBPROTOCOL = "ihis.v1"
BEARER_PREFIX = "ihis.bearer."


def offered_subprotocols(websocket: WebSocket) -> list[str]:
    raw = websocket.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def handshake_request(websocket: WebSocket) -> Request:
    """The handshake as an HTTP GET request (what the session code reads), bearer subprotocol applied."""
    headers = list(websocket.scope["headers"])
    bearer = next(
        (p[len(BEARER_PREFIX) :] for p in offered_subprotocols(websocket) if p.startswith(BEARER_PREFIX)),
        None,
    )
    if bearer:
        headers = [(k, v) for k, v in headers if k.lower() != b"authorization"]
        headers.append((b"authorization", f"Bearer {bearer}".encode("latin-1")))
    scope = {**websocket.scope, "type": "http", "method": "GET", "headers": headers, "state": {}}
    return Request(scope)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _check_origin(request: Request, settings: Settings, extra: tuple[str, ...]) -> None:
    origin = (request.headers.get("origin") or "").lower().rstrip("/")
    scheme = "https" if request.url.scheme in ("wss", "https") else "http"
    allowed = {f"{scheme}://{request.headers.get('host', '').lower()}", _origin(settings.public_base_url)}
    allowed |= {_origin(o) for o in extra}
    if not origin or origin not in allowed:
        raise Forbidden("来源校验失败", "Origin not allowed", extra={"reason": "origin"})


def authenticate_socket(websocket: WebSocket, settings: Settings, allowed_origins: tuple[str, ...]) -> Actor:
    """The signed-in actor of the handshake; 401 without a live session, 403 for a foreign origin."""
    request = handshake_request(websocket)
    actor = current_actor(request)  # 401/403 exactly as for HTTP (MFA, initial password)
    if request.headers.get("authorization", "")[:7].lower() != "bearer ":
        _check_origin(request, settings, allowed_origins)
    return actor


def session_alive(database: Database, settings: Settings, session_id: int) -> bool:
    """Whether the socket's session still holds: not revoked, expired or idle; account active."""
    now = utcnow()
    with database.unit_of_work(write=False) as db:
        row = db.execute(
            select(
                AuthSession.revoked_at,
                AuthSession.absolute_expires_at,
                AuthSession.last_seen_at,
                UserAccount.status,
            )
            .join(UserAccount, UserAccount.id == AuthSession.user_id)
            .where(AuthSession.id == session_id)
        ).first()
    if row is None:
        return False
    revoked_at, absolute, last_seen, status = row
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    return revoked_at is None and now < absolute and now - last_seen < idle and status == "active"


def touch_session(db: Session, session_id: int) -> None:
    """The user acted on the socket (sent, read): activity for the idle timeout; heartbeats are not."""
    now = utcnow()
    db.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.last_seen_at < now - TOUCH_INTERVAL)
        .values(last_seen_at=now)
    )
