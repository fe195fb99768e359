"""Billing's HTTP doors: the patient's bills, the staff bill list, and the channels' notify endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ihis.billing import payments, service, states
from ihis.billing.models import CHANNELS, KINDS
from ihis.billing.schemas import BillDetailOut, BillOut, BillPage, CashierOut, PayIn
from ihis.identity.access import Actor, Permission, require
from ihis.identity.consent import ConsentedPatient
from ihis.platform import audit, jobs
from ihis.platform.db import Database
from ihis.platform.errors import InvalidInput
from ihis.platform.http import AppSettings, ReadDb, client_ip, user_agent

router = APIRouter(tags=["billing"])
BillingReader = Annotated[Actor, Depends(require(Permission.BILLING_READ))]
PAGE_SIZE_MAX = 100


@router.get("/me/bills")
def my_bills(
    actor: ConsentedPatient,
    db: ReadDb,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 20,
) -> BillPage:
    """The patient's own bills, newest first."""
    rows, total = service.list_bills(
        db, actor, service.BillFilter(), offset=(page - 1) * page_size, limit=page_size
    )
    return BillPage(
        items=[BillOut.model_validate(b) for b in rows], total=total, page=page, page_size=page_size
    )


@router.get("/me/bills/{bill_id}")
def my_bill(bill_id: int, actor: ConsentedPatient, db: ReadDb) -> BillDetailOut:
    """One own bill with its refunds, their progress and expected arrival."""
    bill = service.readable_bill(db, actor, bill_id)
    return BillDetailOut.of(bill, service.refunds_of(db, bill))


@router.post("/me/bills/{bill_id}/pay")
def pay_bill(
    bill_id: int, body: PayIn, actor: ConsentedPatient, request: Request, settings: AppSettings
) -> CashierOut:
    """Prepay the own unpaid bill at the chosen channel; the patient goes on to ``cashier_url``."""
    database: Database = request.app.state.db
    return_url = settings.public_url(f"/app/bills/{bill_id}")
    url = payments.start_payment(
        database, settings, jobs.runtime().http, actor, bill_id, body.channel, return_url
    )
    return CashierOut(cashier_url=url)


@router.get("/admin/bills")
def admin_bills(
    actor: BillingReader,
    db: ReadDb,
    status: Annotated[Literal[states.BILL_STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
    kind: Annotated[Literal[KINDS] | None, Query()] = None,  # type: ignore[valid-type]
    channel: Annotated[Literal[CHANNELS] | None, Query()] = None,  # type: ignore[valid-type]
    created_from: dt.date | None = None,
    created_to: dt.date | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 20,
) -> BillPage:
    """Bills of the institution with filters (finance, operations)."""
    if created_from and created_to and created_from > created_to:
        raise InvalidInput.field(
            "query.created_to", "date_range_invalid", "结束日期不能早于开始日期", "End date before start date"
        )
    filters = service.BillFilter(status, kind, channel, created_from, created_to)
    rows, total = service.list_bills(db, actor, filters, offset=(page - 1) * page_size, limit=page_size)
    audit.record(db, actor.audit(), "billing.bills.list", resource_type="bill", detail={"count": len(rows)})
    return BillPage(
        items=[BillOut.model_validate(b) for b in rows], total=total, page=page, page_size=page_size
    )


@router.get("/admin/bills/{bill_id}")
def admin_bill(bill_id: int, actor: BillingReader, db: ReadDb) -> BillDetailOut:
    """One bill of the institution with its refunds."""
    bill = service.readable_bill(db, actor, bill_id)
    audit.record(db, actor.audit(), "billing.bill.read", resource_type="bill", resource_id=bill.id)
    return BillDetailOut.of(bill, service.refunds_of(db, bill))


async def raw_body(request: Request) -> bytes:
    """The exact bytes the channel signed."""
    return await request.body()


def _notify(channel: str, request: Request, body: bytes, settings: AppSettings) -> Response:
    answer = payments.receive_notify(
        request.app.state.db,
        settings,
        jobs.runtime().http,
        channel,
        dict(request.headers),
        body,
        payments.NotifyCaller(ip=client_ip(request), user_agent=user_agent(request)),
    )
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


@router.post("/payments/notify/wechat", include_in_schema=True, status_code=204)
def wechat_notify(
    request: Request, body: Annotated[bytes, Depends(raw_body)], settings: AppSettings
) -> Response:
    """WeChat Pay v3 notify (public; authenticated by the platform signature). 204 when taken."""
    return _notify("wechat", request, body, settings)


@router.post("/payments/notify/alipay")
def alipay_notify(
    request: Request, body: Annotated[bytes, Depends(raw_body)], settings: AppSettings
) -> Response:
    """Alipay async notify (public; authenticated by Alipay's RSA2 signature). Body ``success`` when taken."""
    return _notify("alipay", request, body, settings)
