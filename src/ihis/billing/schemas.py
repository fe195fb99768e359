"""Request and response models of billing."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ihis.billing import states
from ihis.billing.models import Bill, Refund


class PayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Literal["wechat", "alipay"]


class CashierOut(BaseModel):
    cashier_url: str


class BillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    subject: str
    reference_type: str
    reference_id: str
    visitor_id: int | None
    amount_fen: int
    refunded_fen: int
    status: str
    channel: str | None
    expires_at: dt.datetime
    paid_at: dt.datetime | None
    closed_at: dt.datetime | None
    created_at: dt.datetime


class ProgressStep(BaseModel):
    step: Literal["requested", "accepted", "arrived"]
    done: bool
    at: dt.datetime | None


class RefundOut(BaseModel):
    id: int
    amount_fen: int
    reason: str
    status: str
    channel: str
    expected_arrival: str
    created_at: dt.datetime
    succeeded_at: dt.datetime | None
    progress: list[ProgressStep]

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        accepted = refund.status in (states.PROCESSING, states.SUCCEEDED)
        return cls(
            id=refund.id,
            amount_fen=refund.amount_fen,
            reason=refund.reason,
            status=refund.status,
            channel=refund.channel,
            expected_arrival=refund.expected_arrival,
            created_at=refund.created_at,
            succeeded_at=refund.succeeded_at,
            progress=[
                ProgressStep(step="requested", done=True, at=refund.created_at),
                ProgressStep(step="accepted", done=accepted, at=None),
                ProgressStep(step="arrived", done=refund.status == states.SUCCEEDED, at=refund.succeeded_at),
            ],
        )


class BillDetailOut(BillOut):
    refunds: list[RefundOut]

    @classmethod
    def of(cls, bill: Bill, refunds: list[Refund]) -> BillDetailOut:
        base = BillOut.model_validate(bill).model_dump()
        return cls(**base, refunds=[RefundOut.of(r) for r in refunds])


class BillPage(BaseModel):
    items: list[BillOut]
    total: int
    page: int
    page_size: int
