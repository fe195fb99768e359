"""Staff view of the sandboxes (demo and test deployments only): the SMS the sandbox provider
received, so that operations/IT — and the browser tests — can read verification codes.

It lives outside ``integrations`` because it is a staff endpoint (identity's access control);
``create_app`` includes it only when ``settings.sandbox`` is on, and it answers 404 in production.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from ihis.identity.access import Actor, Permission, require
from ihis.integrations.sms.models import SandboxSmsMessage
from ihis.platform import audit
from ihis.platform.errors import NotFound
from ihis.platform.http import AppSettings, ReadDb

router = APIRouter()

CONSOLE_PATH = "/api/v1/admin/sandbox/sms"


class SandboxSmsOut(BaseModel):
    """One message the sandbox provider received, with its full text (sandbox data only)."""

    id: int
    phone: str
    sign_name: str
    template_code: str
    text: str
    # The provider's answer to the send request ("OK" or an error code).
    code: str
    # The verification code carried by the message, when it is a code message.
    verification_code: str | None
    biz_id: str | None
    out_id: str | None
    received_at: dt.datetime


@router.get(CONSOLE_PATH, tags=["sandbox"], response_model=list[SandboxSmsOut])
def list_sandbox_sms(
    actor: Annotated[Actor, Depends(require(Permission.SANDBOX_OUTBOX_READ))],
    db: ReadDb,
    settings: AppSettings,
    phone: Annotated[str | None, Query(max_length=20, pattern=r"^\+?\d{5,20}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[SandboxSmsOut]:
    """Recent messages of the sandbox SMS provider, newest first (demo and test deployments only)."""
    if not settings.sandbox or settings.is_production:
        raise NotFound()
    stmt = select(SandboxSmsMessage).order_by(SandboxSmsMessage.id.desc()).limit(limit)
    if phone:
        stmt = stmt.where(SandboxSmsMessage.phone == phone)
    rows = list(db.scalars(stmt))
    # Reading verification codes is a security-relevant act even in a sandbox.
    audit.record(
        db,
        actor.audit(),
        "sandbox.sms.read",
        resource_type="sandbox_sms_message",
        detail={"count": len(rows)},
    )
    return [_out(row) for row in rows]


def _out(row: SandboxSmsMessage) -> SandboxSmsOut:
    try:
        params = json.loads(row.params or "{}")
    except ValueError:
        params = {}
    code = params.get("code") if isinstance(params, dict) else None
    return SandboxSmsOut(
        id=row.id,
        phone=row.phone,
        sign_name=row.sign_name,
        template_code=row.template_code,
        text=row.text,
        code=row.code,
        verification_code=str(code) if code is not None else None,
        biz_id=row.biz_id,
        out_id=row.out_id,
        received_at=row.received_at,
    )
