"""What every payment channel adapter offers (WeChat Pay, Alipay, later UnionPay ...).

Billing talks to channels only through ``PaymentChannel``; each implementation speaks its real
protocol over HTTP (ARCHITECTURE principle 8) and the sandboxes under ``/sandbox`` speak the same.
Amounts are integer fen on this side of the wire whatever the channel uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

ChannelName = Literal["wechat", "alipay"]
CHANNEL_NAMES: Final = ("wechat", "alipay")

# What the patient is told about refund arrival, per channel (BJ 5.4.2; the channels' own texts).
EXPECTED_REFUND_ARRIVAL: Final[dict[str, str]] = {
    "wechat": "零钱即时到账，银行卡1-3个工作日 / Balance: at once; bank card: 1-3 working days",
    "alipay": "余额即时到账，银行卡1-5个工作日 / Balance: at once; bank card: 1-5 working days",
}


class PaymentError(Exception):
    """A channel call failed; ``code`` is the channel's code or a transport class name."""

    def __init__(self, code: str, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


class PaymentUnavailable(PaymentError):
    """Transport failure, 5xx, bad or unsigned answer: try again later."""


class PaymentRejected(PaymentError):
    """The channel refused the request (bad parameters, order state): retrying cannot help."""


class NotifyRejected(Exception):
    """A notify that failed verification (signature, timestamp, decryption, shape)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Prepay:
    """Where to send the patient to pay, and the channel's id of the prepared order (if any)."""

    cashier_url: str
    prepay_id: str | None


TradeState = Literal["paid", "unpaid", "closed", "refunded", "unknown"]


@dataclass(frozen=True)
class Trade:
    """The channel's view of one order (query answer or payment notify)."""

    out_trade_no: str
    state: TradeState
    transaction_id: str | None
    amount_fen: int | None
    paid_at: dt.datetime | None


RefundState = Literal["processing", "succeeded", "failed"]


@dataclass(frozen=True)
class RefundOutcome:
    """The channel's view of one refund."""

    out_refund_no: str
    state: RefundState
    refund_id: str | None
    amount_fen: int | None
    succeeded_at: dt.datetime | None


@dataclass(frozen=True)
class Notice:
    """A verified notify: a payment (``trade``) or a refund (``refund``), with the channel's id."""

    notify_id: str
    trade: Trade | None = None
    refund: RefundOutcome | None = None


@dataclass(frozen=True)
class Answer:
    """The HTTP answer a channel expects from our notify endpoint."""

    status: int
    body: bytes
    media_type: str | None


class PaymentChannel(Protocol):
    """One payment channel, as billing uses it."""

    name: ChannelName

    def prepay(
        self, out_trade_no: str, amount_fen: int, subject: str, expires_at: dt.datetime, return_url: str
    ) -> Prepay:
        """Prepare the order; the patient pays at ``cashier_url``."""
        ...

    def query(self, out_trade_no: str) -> Trade:
        """The order's state at the channel."""
        ...

    def close(self, out_trade_no: str) -> None:
        """Close an unpaid order so it can no longer be paid (idempotent)."""
        ...

    def refund(
        self, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundOutcome:
        """Ask for money back by the original channel (idempotent by ``out_refund_no``)."""
        ...

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> RefundOutcome:
        """A refund's state at the channel."""
        ...

    def parse_notify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Verify and decode a notify; raise ``NotifyRejected`` if it is not authentic."""
        ...

    def success_answer(self) -> Answer:
        """What the channel expects when we took the notify (it then stops retrying)."""
        ...

    def failure_answer(self, reason: str) -> Answer:
        """What makes the channel retry (or tells it the notify was refused)."""
        ...

    def download_statement(self, bill_date: dt.date) -> str:
        """The channel's daily statement (对账单) of ``bill_date`` as text."""
        ...
