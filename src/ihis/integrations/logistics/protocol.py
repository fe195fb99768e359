"""The courier (快递) protocol IHIS speaks: waybills, cancellation, tracking, as plain values.

The drug-order domain books deliveries only through ``CourierGateway``; the production client
(``client.py``) speaks the courier's signed JSON API over HTTPS and the sandbox courier
(``sandbox.py``) speaks the same, so they cannot drift apart (docs/logistics-and-insurance.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal, Protocol

WaybillStatus = Literal[
    "created", "picked_up", "in_transit", "out_for_delivery", "delivered", "failed", "returned"
]
WAYBILL_STATUSES: Final = (
    "created",
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "failed",
    "returned",
)
# A status only ever moves to a higher rank (late or out-of-order events never move it back).
# ``failed`` (delivery attempt failed, refused) may still end in delivered or returned; delivered
# and returned are terminal and share a rank so neither overrides the other.
STATUS_RANK: Final[dict[str, int]] = {
    "created": 0,
    "picked_up": 1,
    "in_transit": 2,
    "out_for_delivery": 3,
    "failed": 4,
    "delivered": 5,
    "returned": 5,
}
TERMINAL_STATUSES: Final = frozenset({"delivered", "returned"})
# The courier refuses to cancel a waybill once the parcel has been collected.
CANCELLABLE_STATUSES: Final = frozenset({"created"})
STATUS_NAMES: Final[dict[str, tuple[str, str]]] = {
    "created": ("已下单", "Waybill created"),
    "picked_up": ("已揽收", "Picked up"),
    "in_transit": ("运输中", "In transit"),
    "out_for_delivery": ("派送中", "Out for delivery"),
    "delivered": ("已签收", "Delivered"),
    "failed": ("派送失败", "Delivery failed"),
    "returned": ("已退回", "Returned to sender"),
}


def ranks_below(status: str) -> list[str]:
    """The statuses a shipment may leave for ``status`` (strictly lower rank)."""
    rank = STATUS_RANK[status]
    return [s for s, r in STATUS_RANK.items() if r < rank]


@dataclass(frozen=True)
class Party:
    """A sender or receiver as the courier needs them: name, mobile, full address."""

    name: str
    phone: str
    address: str


@dataclass(frozen=True)
class WaybillRequest:
    """One parcel to collect at the pharmacy and deliver to the patient.

    ``description`` is what the courier needs to handle the parcel (``药品 1 件``, ``冷链药品``),
    never drug names or diagnoses (they are health data the courier has no need of).
    """

    order_ref: str
    sender: Party
    receiver: Party
    description: str
    pieces: int = 1
    cold_chain: bool = False


@dataclass(frozen=True)
class Waybill:
    """The courier's answer to a booking: its waybill number (运单号) for our order ref."""

    waybill_no: str
    order_ref: str
    status: str


@dataclass(frozen=True)
class TrackingEvent:
    """One tracking event; ``event_id`` is unique per waybill and stable across re-sends."""

    event_id: str
    waybill_no: str
    status: str
    occurred_at: dt.datetime
    location: str
    description: str
    order_ref: str | None = None


class CourierError(Exception):
    """A courier call failed; ``retryable`` says whether the same call may succeed later."""

    def __init__(self, code: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable
        self.status = status


class CourierGateway(Protocol):
    """Anything that books, cancels and tracks waybills (the HTTP client, or a fake in unit tests)."""

    def create_waybill(self, req: WaybillRequest) -> Waybill:  # pragma: no cover - protocol
        """Book a pickup; the same ``order_ref`` always yields the same waybill."""
        ...

    def cancel_waybill(self, waybill_no: str, reason: str) -> None:  # pragma: no cover - protocol
        """Cancel before pickup; ``CourierError("already_picked_up")`` afterwards."""
        ...

    def query_tracking(self, waybill_no: str) -> list[TrackingEvent]:  # pragma: no cover - protocol
        """Every tracking event of the waybill so far, oldest first."""
        ...
