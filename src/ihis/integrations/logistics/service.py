"""Shipments for the domains: book, cancel, look up, timeline (no FastAPI, no session auth).

The caller (the drug-order domain) authorizes and audits; these functions take the institution
of the order. ``book_shipment`` and ``cancel_shipment`` call the courier with NO transaction open
(the row is written and committed first, the HTTP call runs, then a second unit records the
answer), like ``signing.service.sign_document``: a slow courier never holds a database lock, and
a crash in between leaves a ``pending`` row that booking again completes (the courier
deduplicates by our order ref).
"""

from __future__ import annotations

import re

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.integrations.logistics.client import HttpCourierClient
from ihis.integrations.logistics.config import CourierConfig
from ihis.integrations.logistics.models import SHIPMENT_CANCELLED, SHIPMENT_PENDING, Shipment, ShipmentEvent
from ihis.integrations.logistics.protocol import (
    CANCELLABLE_STATUSES,
    CourierError,
    CourierGateway,
    Party,
    WaybillRequest,
)
from ihis.integrations.logistics.schemas import ShipmentView, TimelineEntry
from ihis.integrations.logistics.tracking import move_status
from ihis.platform import jobs
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, InvalidInput, NotFound, UpstreamFailed

log = structlog.get_logger(__name__)

REF = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
MAX_PIECES = 20


def courier_gateway(database: Database) -> CourierGateway:
    """The production client on the process's outbound HTTP client."""
    return HttpCourierClient(jobs.runtime().http, CourierConfig.from_settings(database.settings))


def _check(ref: str, receiver: Party, description: str, pieces: int) -> None:
    if not REF.match(ref):
        raise InvalidInput.field("ref", "ref_invalid", "订单号格式不正确", "Invalid order reference")
    if not receiver.name.strip() or len(receiver.name) > 50:
        raise InvalidInput.field("receiver.name", "name_invalid", "收件人姓名不正确", "Invalid receiver name")
    if not MOBILE.match(receiver.phone):
        raise InvalidInput.field(
            "receiver.phone", "phone_invalid", "手机号格式不正确", "Invalid phone number"
        )
    if not 5 <= len(receiver.address.strip()) <= 200:
        raise InvalidInput.field(
            "receiver.address", "address_invalid", "收件地址不完整", "The delivery address is incomplete"
        )
    if not description.strip() or len(description) > 100:
        raise InvalidInput.field(
            "description", "description_invalid", "包裹描述不正确", "Invalid parcel description"
        )
    if not 1 <= pieces <= MAX_PIECES:
        raise InvalidInput.field("pieces", "pieces_invalid", "件数不正确", "Invalid number of pieces")


def _find(db: Session, institution_id: int, ref: str) -> Shipment | None:
    return db.scalar(select(Shipment).where(Shipment.institution_id == institution_id, Shipment.ref == ref))


def _courier_refused(exc: CourierError) -> UpstreamFailed:
    return UpstreamFailed(
        f"快递公司暂不可用（{exc.code}），请稍后重试",
        f"The courier is unavailable ({exc.code}); try again later",
    )


def book_shipment(
    database: Database,
    institution_id: int,
    ref: str,
    *,
    sender: Party,
    receiver: Party,
    description: str,
    cold_chain: bool = False,
    pieces: int = 1,
    gateway: CourierGateway | None = None,
) -> ShipmentView:
    """Hand the parcel of order ``ref`` to the courier; booking the same ref again returns the same."""
    _check(ref, receiver, description, pieces)
    with database.unit_of_work() as db:
        shipment = _find(db, institution_id, ref)
        if shipment is None:
            try:
                with db.begin_nested():
                    shipment = Shipment(
                        institution_id=institution_id,
                        ref=ref,
                        courier_ref=f"I{institution_id}-{ref}",
                        status=SHIPMENT_PENDING,
                        sender_name=sender.name,
                        sender_phone=sender.phone,
                        sender_address=sender.address,
                        receiver_name=receiver.name.strip(),
                        receiver_phone=receiver.phone,
                        receiver_address=receiver.address.strip(),
                        description=description.strip(),
                        pieces=pieces,
                        cold_chain=cold_chain,
                    )
                    db.add(shipment)
                    db.flush()
            except IntegrityError:  # a concurrent booking of the same order won
                shipment = _find(db, institution_id, ref)
                assert shipment is not None
        if shipment.status == SHIPMENT_CANCELLED:
            raise Conflict("该配送已取消", "This shipment was cancelled")
        if shipment.waybill_no is not None:
            return ShipmentView.of(shipment)
        shipment_id = shipment.id
        request = WaybillRequest(
            order_ref=shipment.courier_ref,
            sender=Party(shipment.sender_name, shipment.sender_phone, shipment.sender_address),
            receiver=Party(shipment.receiver_name, shipment.receiver_phone, shipment.receiver_address),
            description=shipment.description,
            pieces=shipment.pieces,
            cold_chain=shipment.cold_chain,
        )
    courier = gateway or courier_gateway(database)
    try:
        waybill = courier.create_waybill(request)
    except CourierError as exc:
        _record_error(database, shipment_id, exc)
        raise _courier_refused(exc) from exc
    now = utcnow()
    with database.unit_of_work() as db:
        db.execute(
            update(Shipment)
            .where(Shipment.id == shipment_id, Shipment.waybill_no.is_(None))
            .values(waybill_no=waybill.waybill_no)
            .execution_options(synchronize_session=False)
        )
        db.execute(
            update(Shipment)
            .where(Shipment.id == shipment_id)
            .values(booked_at=now, last_event_at=now, last_error=None)
            .execution_options(synchronize_session=False)
        )
        shipment = db.get(Shipment, shipment_id, populate_existing=True)
        assert shipment is not None
        if shipment.status != SHIPMENT_CANCELLED:
            if shipment.waybill_no != waybill.waybill_no:  # the courier must be idempotent by our ref
                log.error("courier_waybill_mismatch", shipment_id=shipment_id)
                raise UpstreamFailed("快递单号不一致", "The courier answered a different waybill number")
            move_status(db, shipment, "created", now)
            db.refresh(shipment)
            return ShipmentView.of(shipment)
    # The order was cancelled while the courier was booking: take the waybill back (best effort;
    # a parcel is never handed over for a cancelled shipment anyway).
    try:
        courier.cancel_waybill(waybill.waybill_no, "order cancelled")
    except CourierError as exc:
        log.warning("courier_cancel_after_booking_failed", code=exc.code)
    raise Conflict("该配送已取消", "This shipment was cancelled")


def _record_error(database: Database, shipment_id: int, exc: CourierError) -> None:
    with database.unit_of_work() as db:
        db.execute(
            update(Shipment)
            .where(Shipment.id == shipment_id)
            .values(last_error=exc.code[:80])
            .execution_options(synchronize_session=False)
        )


def cancel_shipment(
    database: Database, institution_id: int, ref: str, reason: str, *, gateway: CourierGateway | None = None
) -> ShipmentView:
    """Cancel before pickup (Conflict afterwards, as the courier refuses too); idempotent."""
    if not reason.strip() or len(reason) > 200:
        raise InvalidInput.field(
            "reason", "reason_invalid", "请填写取消原因", "A cancellation reason is required"
        )
    with database.unit_of_work(write=False) as db:
        shipment = _find(db, institution_id, ref)
        if shipment is None:
            raise NotFound("配送不存在", "Shipment not found")
        if shipment.status == SHIPMENT_CANCELLED:
            return ShipmentView.of(shipment)
        if shipment.status not in (SHIPMENT_PENDING, *CANCELLABLE_STATUSES):
            raise _picked_up()
        shipment_id, waybill_no = shipment.id, shipment.waybill_no
    if waybill_no is not None:
        try:
            (gateway or courier_gateway(database)).cancel_waybill(waybill_no, reason.strip())
        except CourierError as exc:
            if exc.code == "already_picked_up":
                raise _picked_up() from exc
            raise _courier_refused(exc) from exc
    with database.unit_of_work() as db:
        moved = db.execute(
            update(Shipment)
            .where(Shipment.id == shipment_id, Shipment.status.in_((SHIPMENT_PENDING, *CANCELLABLE_STATUSES)))
            .values(status=SHIPMENT_CANCELLED, cancel_reason=reason.strip(), status_changed_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        shipment = db.get(Shipment, shipment_id, populate_existing=True)
        assert shipment is not None
        if not moved and shipment.status != SHIPMENT_CANCELLED:
            raise _picked_up()  # a pickup event landed while we were cancelling
        return ShipmentView.of(shipment)


def _picked_up() -> Conflict:
    return Conflict(
        "快递已揽收，无法取消；请走退货流程", "The parcel has been picked up and can no longer be cancelled"
    )


def shipment_for_ref(
    db: Session, institution_id: int, ref: str, *, full: bool = False
) -> ShipmentView | None:
    """The shipment of order ``ref`` (masked receiver unless ``full``), or None."""
    shipment = _find(db, institution_id, ref)
    return None if shipment is None else ShipmentView.of(shipment, full=full)


def timeline(db: Session, institution_id: int, ref: str) -> list[TimelineEntry]:
    """The tracking events of order ``ref``, oldest first (as they happened, whatever order they came)."""
    rows = db.scalars(
        select(ShipmentEvent)
        .join(Shipment, Shipment.id == ShipmentEvent.shipment_id)
        .where(Shipment.institution_id == institution_id, Shipment.ref == ref)
        .order_by(ShipmentEvent.occurred_at, ShipmentEvent.id)
    )
    return [TimelineEntry.of(row) for row in rows]


def ref_of_waybill(db: Session, institution_id: int, waybill_no: str) -> str | None:
    """Our order ref of a waybill (an order reshipped after a return has one shipment per parcel)."""
    return db.scalar(
        select(Shipment.ref).where(
            Shipment.institution_id == institution_id, Shipment.waybill_no == waybill_no
        )
    )
