"""What the logistics adapter hands to the domains and what the courier pushes to us."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from ihis.integrations.logistics.models import Shipment, ShipmentEvent
from ihis.integrations.logistics.protocol import STATUS_NAMES
from ihis.platform.masking import mask_address, mask_name, mask_phone

_EXTRA_STATUS_NAMES = {"pending": ("待揽件下单", "Booking"), "cancelled": ("已取消", "Cancelled")}


def status_name(status: str) -> tuple[str, str]:
    """The zh-CN and English names of a shipment status."""
    return STATUS_NAMES.get(status) or _EXTRA_STATUS_NAMES.get(status) or (status, status)


class ShipmentView(BaseModel):
    """A shipment as domains show it; receiver fields masked unless ``full`` was asked for."""

    ref: str
    waybill_no: str | None
    status: str
    status_zh: str
    status_en: str
    receiver_name: str | None
    receiver_phone: str | None
    receiver_address: str | None
    cold_chain: bool
    booked_at: dt.datetime | None
    status_changed_at: dt.datetime | None

    @classmethod
    def of(cls, row: Shipment, *, full: bool = False) -> ShipmentView:
        """Masked by default (DOMAIN §10); ``full`` only for callers holding PII_READ_FULL (audited)."""
        zh, en = status_name(row.status)
        return cls(
            ref=row.ref,
            waybill_no=row.waybill_no,
            status=row.status,
            status_zh=zh,
            status_en=en,
            receiver_name=row.receiver_name if full else mask_name(row.receiver_name),
            receiver_phone=row.receiver_phone if full else mask_phone(row.receiver_phone),
            receiver_address=row.receiver_address if full else mask_address(row.receiver_address),
            cold_chain=row.cold_chain,
            booked_at=row.booked_at,
            status_changed_at=row.status_changed_at,
        )


class TimelineEntry(BaseModel):
    """One tracking event in the patient's delivery timeline."""

    status: str
    status_zh: str
    status_en: str
    occurred_at: dt.datetime
    location: str
    description: str

    @classmethod
    def of(cls, row: ShipmentEvent) -> TimelineEntry:
        """From a stored event."""
        zh, en = status_name(row.status)
        return cls(
            status=row.status,
            status_zh=zh,
            status_en=en,
            occurred_at=row.occurred_at,
            location=row.location,
            description=row.description,
        )


class PushedEvent(BaseModel):
    """One tracking event in a courier push."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=64)
    waybill_no: str = Field(min_length=1, max_length=40)
    order_ref: str | None = Field(default=None, max_length=96)
    status: str = Field(
        pattern=r"^(created|picked_up|in_transit|out_for_delivery|delivered|failed|returned)$"
    )
    occurred_at: dt.datetime
    location: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=500)


class TrackingPush(BaseModel):
    """The body of ``POST /integrations/logistics/notify``: a batch of events."""

    model_config = ConfigDict(extra="ignore")

    events: list[PushedEvent] = Field(min_length=1, max_length=100)
