"""Early load shedding for endpoints that spend argon2 work (logins, registration, step-up).

While the password-work gate is full, such requests are answered 429 + Retry-After straight
from the event loop — before the body is read, before a worker thread, a database read or any
ORM work. Under a login storm the Python interpreter lock, not the CPU cores hashing, is the
scarce resource; refusing the excess before it costs any keeps the refusal itself fast (< 50 ms)
and leaves the lock to the logins that were admitted. The gate in ``passwords`` still decides for
the requests that pass here.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from ihis.identity.passwords import password_work_saturated

# Routes (relative to the API prefix) that run argon2 on every call.
PASSWORD_WORK_ROUTES = frozenset(
    {
        "/auth/staff/login",
        "/auth/staff/application-login",
        "/auth/staff/register",
        "/auth/patient/login",
        "/auth/patient/register",
        "/auth/patient/reset-password",
        "/auth/step-up",
        "/auth/password",
    }
)

_BODY = {
    "type": "/problems/rate_limited",
    "title": "请求过于频繁，请稍后再试",
    "status": 429,
    "detail": "系统繁忙，请稍后再试",
    "code": "rate_limited",
    "retry_after": 1,
}
_BODY_EN = {
    **_BODY,
    "title": "Too many requests; try again later",
    "detail": "The system is busy; try again in a moment",
}


class PasswordWorkShedder:
    """Pure ASGI middleware: 429 at once for password-work routes while the gate is full."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.paths = frozenset(prefix + route for route in PASSWORD_WORK_ROUTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self.paths
            and password_work_saturated()
        ):
            headers = dict(scope.get("headers") or [])
            english = headers.get(b"accept-language", b"").lower().startswith(b"en")
            body = json.dumps(_BODY_EN if english else _BODY, ensure_ascii=False).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"retry-after", b"1"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
