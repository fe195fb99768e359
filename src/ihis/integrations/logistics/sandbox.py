"""Sandbox courier: the courier's signed JSON API under ``/sandbox/courier/api``, and controls.

It checks what the real courier checks (app id, timestamp window, HMAC signature, nonce replay),
issues waybills idempotently by order ref, refuses cancellation after pickup and pushes signed
tracking events to the ``notify_url`` given at booking, with retries (``sandbox_push``).

Controls (sandbox only, no signature; used by demos and browser tests):
``POST /sandbox/courier/waybills/{no}/advance`` moves the parcel to the next status
(``?status=failed``, ``?status=returned`` etc. to jump forward; ``?push=false`` simulates a lost
push).
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.integrations.logistics import signing
from ihis.integrations.logistics.client import event_to_wire
from ihis.integrations.logistics.config import CourierConfig
from ihis.integrations.logistics.models import SandboxCourierEvent, SandboxCourierWaybill
from ihis.integrations.logistics.protocol import CANCELLABLE_STATUSES, STATUS_RANK
from ihis.integrations.logistics.sandbox_push import advance, record_event, wire_event
from ihis.integrations.logistics.tracking import claim_nonce
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db

router = APIRouter(prefix="/sandbox/courier", tags=["sandbox"], include_in_schema=False)

NONCE_SCOPE = "sandbox"


async def raw_body(request: Request) -> bytes:
    """The exact bytes the client signed."""
    return await request.body()


def _answer(code: str, message: str, status: int = 200, data: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return JSONResponse(body, status_code=status)


def _refused(request: Request, body: bytes, db: Session, config: CourierConfig) -> JSONResponse | None:
    reason, nonce = signing.check(
        request.headers,
        request.method,
        request.url.path,
        body.decode("utf-8", errors="replace"),
        app_id=config.app_id,
        secret=config.app_secret,
    )
    if reason is None and not claim_nonce(db, NONCE_SCOPE, nonce):
        reason = "nonce_replayed"
    if reason is not None:
        return _answer("SIGN_ERROR", reason, 401)
    return None


def _waybill(db: Session, waybill_no: str) -> SandboxCourierWaybill | None:
    return db.scalar(select(SandboxCourierWaybill).where(SandboxCourierWaybill.waybill_no == waybill_no))


def _waybill_data(row: SandboxCourierWaybill) -> dict[str, Any]:
    return {"waybill_no": row.waybill_no, "order_ref": row.order_ref, "status": row.status}


@router.post("/api/waybills")
def create_waybill(
    request: Request, body: Annotated[bytes, Depends(raw_body)], db: Db, settings: AppSettings
) -> JSONResponse:
    """下单: one waybill per order ref (a repeated booking answers the same waybill)."""
    refused = _refused(request, body, db, CourierConfig.from_settings(settings))
    if refused is not None:
        return refused
    try:
        data = json.loads(body)
        receiver, sender = data["receiver"], data["sender"]
        order_ref, notify_url = str(data["order_ref"]), str(data["notify_url"])
        fields = (
            receiver["name"],
            receiver["phone"],
            receiver["address"],
            sender["address"],
            data["description"],
        )
        if not all(isinstance(f, str) and f for f in fields) or not order_ref:
            raise ValueError("empty field")
    except (ValueError, KeyError, TypeError):
        return _answer("PARAM_ERROR", "missing or malformed field", 400)
    existing = db.scalar(select(SandboxCourierWaybill).where(SandboxCourierWaybill.order_ref == order_ref))
    if existing is not None:
        return _answer("OK", "success", data=_waybill_data(existing))
    now = utcnow()
    row = SandboxCourierWaybill(
        waybill_no=f"SX{secrets.randbelow(10**12):012d}",
        order_ref=order_ref,
        status="created",
        notify_url=notify_url,
        receiver_name=receiver["name"],
        receiver_phone=receiver["phone"],
        receiver_address=receiver["address"],
        sender_address=sender["address"],
        description=str(data["description"])[:100],
        pieces=int(data.get("pieces") or 1),
        cold_chain=bool(data.get("cold_chain")),
        created_at=now,
        advanced_at=now,
    )
    db.add(row)
    db.flush()
    record_event(db, row, "created")
    return _answer("OK", "success", data=_waybill_data(row))


@router.post("/api/waybills/{waybill_no}/cancel")
def cancel_waybill(
    waybill_no: str,
    request: Request,
    body: Annotated[bytes, Depends(raw_body)],
    db: Db,
    settings: AppSettings,
) -> JSONResponse:
    """取消: only before pickup (``ALREADY_PICKED_UP`` afterwards); cancelling twice is fine."""
    refused = _refused(request, body, db, CourierConfig.from_settings(settings))
    if refused is not None:
        return refused
    row = _waybill(db, waybill_no)
    if row is None:
        return _answer("WAYBILL_NOT_FOUND", "waybill not found", 404)
    if row.status == "cancelled":
        return _answer("OK", "success", data=_waybill_data(row))
    if row.status not in CANCELLABLE_STATUSES:
        return _answer("ALREADY_PICKED_UP", "the parcel has been picked up", 409)
    row.status = "cancelled"
    row.advanced_at = utcnow()
    db.flush()
    return _answer("OK", "success", data=_waybill_data(row))


@router.get("/api/waybills/{waybill_no}/events")
def waybill_events(waybill_no: str, request: Request, db: Db, settings: AppSettings) -> JSONResponse:
    """路由查询: every event so far, oldest first."""
    refused = _refused(request, b"", db, CourierConfig.from_settings(settings))
    if refused is not None:
        return refused
    row = _waybill(db, waybill_no)
    if row is None:
        return _answer("WAYBILL_NOT_FOUND", "waybill not found", 404)
    events = db.scalars(
        select(SandboxCourierEvent)
        .where(SandboxCourierEvent.waybill_no == waybill_no)
        .order_by(SandboxCourierEvent.occurred_at, SandboxCourierEvent.id)
    )
    return _answer(
        "OK", "success", data={"events": [event_to_wire(wire_event(e, row.order_ref)) for e in events]}
    )


@router.post("/waybills/{waybill_no}/advance")
def advance_waybill(waybill_no: str, db: Db, status: str | None = None, push: bool = True) -> JSONResponse:
    """Control: the courier moves the parcel one step (or to ``status``); the push follows."""
    row = _waybill(db, waybill_no)
    if row is None:
        return _answer("WAYBILL_NOT_FOUND", "waybill not found", 404)
    if status is not None and status not in STATUS_RANK:
        return _answer("PARAM_ERROR", "unknown status", 400)
    event = advance(db, row, status, push=push)
    if event is None:
        return _answer("STATUS_FINAL", f"cannot advance from {row.status}", 409, data=_waybill_data(row))
    return _answer("OK", "success", data={**_waybill_data(row), "event_id": event.event_id})
