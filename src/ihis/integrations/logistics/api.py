"""The courier's door into IHIS: tracking pushes (public; authenticated by the courier's HMAC)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ihis.integrations.logistics.config import CourierConfig
from ihis.integrations.logistics.tracking import receive_push
from ihis.platform import audit
from ihis.platform.audit import AuditContext
from ihis.platform.errors import InvalidInput, Unauthenticated, UpstreamFailed
from ihis.platform.http import AppSettings, client_ip, user_agent

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/integrations/logistics", tags=["integrations"])

# The courier's documented success answer; anything else (5xx) makes it push again later.
SUCCESS_BODY = {"code": "OK", "message": "success"}


async def raw_body(request: Request) -> bytes:
    """The exact bytes the courier signed."""
    return await request.body()


@router.post("/notify")
def courier_notify(
    request: Request, body: Annotated[bytes, Depends(raw_body)], settings: AppSettings
) -> JSONResponse:
    """Tracking events pushed by the courier (signature, time window and nonce checked; exactly once)."""
    config = CourierConfig.from_settings(settings)
    outcome = receive_push(
        request.app.state.db, config, request.method, request.url.path, dict(request.headers), body
    )
    if outcome.status == 200:
        return JSONResponse(SUCCESS_BODY)
    if outcome.status == 401:
        # A forged or replayed push is a security event (no personal data in the detail).
        log.warning("courier_push_rejected", reason=outcome.reason)
        ctx = AuditContext(
            actor_id=None,
            actor_role="courier",
            actor_name="courier",
            institution_id=None,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
        audit.record_independent(
            request.app.state.db,
            ctx,
            "logistics.notify.rejected",
            resource_type="courier_push",
            outcome="denied",
            detail={"reason": outcome.reason},
        )
        raise Unauthenticated("推送签名无效", "Push refused", extra={"reason": outcome.reason})
    if outcome.status == 400:
        raise InvalidInput.field("body.events", "push_malformed", "推送内容格式不正确", "Malformed push")
    raise UpstreamFailed("暂时无法处理推送，请稍后重试", "Cannot process the push now; retry later")
