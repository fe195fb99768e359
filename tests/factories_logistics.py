"""Factories for the logistics and insurance adapters: the routers mounted, parties, bookings.

app fixture: ``from tests.factories_logistics import logistics_app  # noqa: F401`` mounts the
courier notify router (/api/v1) and the courier and insurance simulators (/sandbox) unless the
application already has them.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.integrations.logistics import signing
from ihis.integrations.logistics.config import NOTIFY_PATH, CourierConfig
from ihis.integrations.logistics.protocol import Party
from ihis.integrations.logistics.schemas import ShipmentView
from ihis.integrations.logistics.service import book_shipment
from ihis.platform.db import Database
from ihis.platform.outbox import OutboxMessage
from ihis.settings import Settings

_seq = itertools.count(1)

PHARMACY = Party("测试医院门诊药房", "01065001234", "北京市东城区帅府园1号 门诊楼一层药房")
RECEIVER = Party("王小明", "13800138000", "北京市朝阳区建国路88号 3号楼1201")


def mount_logistics(application: FastAPI) -> FastAPI:
    """Include the notify router and the courier/insurance sandboxes unless already there."""
    paths = {getattr(r, "path", "") for r in application.routes}
    if NOTIFY_PATH not in paths:
        from ihis.integrations.logistics.api import router as notify_router

        application.include_router(notify_router, prefix="/api/v1")
    if "/sandbox/courier/api/waybills" not in paths:
        from ihis.integrations.logistics.sandbox import router as courier_sandbox

        application.include_router(courier_sandbox)
    if "/sandbox/insurance/api/{infno}" not in paths:
        from ihis.integrations.insurance.sandbox import router as insurance_sandbox

        application.include_router(insurance_sandbox)
    return application


@pytest.fixture(name="app")
def logistics_app(app: FastAPI) -> FastAPI:
    """The test application with the logistics/insurance routes (until the lead mounts them)."""
    return mount_logistics(app)


def new_ref() -> str:
    """A fresh order reference."""
    return f"RXO{next(_seq):06d}"


def book(database: Database, institution_id: int, ref: str | None = None, **kw: Any) -> ShipmentView:
    """A booked shipment (through the sandbox courier) of a made-up drug order."""
    return book_shipment(
        database,
        institution_id,
        ref or new_ref(),
        sender=kw.pop("sender", PHARMACY),
        receiver=kw.pop("receiver", RECEIVER),
        description=kw.pop("description", "药品 1 件"),
        **kw,
    )


def signed_push(
    settings: Settings, events: list[dict[str, Any]], *, secret: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A courier push body and its signature headers, as the courier would send them."""
    config = CourierConfig.from_settings(settings)
    body = json.dumps({"events": events}, ensure_ascii=False)
    headers = signing.signed_headers(config.app_id, secret or config.notify_secret, "POST", NOTIFY_PATH, body)
    headers["Content-Type"] = "application/json"
    return body.encode(), headers


def outbox_count(db: Session, topic: str) -> int:
    """How many outbox messages of ``topic`` were emitted."""
    return int(
        db.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == topic)) or 0
    )
