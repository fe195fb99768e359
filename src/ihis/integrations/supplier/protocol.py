"""The partner-supplier protocol (合作药店 / 药品配送企业): stock query, order push, order query.

JSON over HTTPS, every request signed with HMAC-SHA256 by the app secret the supplier issued us.
The production client and the sandbox supplier share this module, so they cannot drift apart:

    POST {base}/v1/stock/query      {"drug_codes": ["D001", ...]}
         -> {"code": "0", "data": {"items": [{"drug_code": "D001", "quantity": 120}, ...]}}
    POST {base}/v1/orders           {"order_ref": "rx:123", "lines": [{"drug_code", "quantity"}]}
         -> {"code": "0", "data": {"order_ref", "supplier_order_no", "status": "accepted"}}
         (idempotent by ``order_ref``: the same ref answers the first acceptance again;
          ``code`` "STOCK_SHORT" with HTTP 409 when a line cannot be filled)
    GET  {base}/v1/orders/{order_ref}
         -> {"code": "0", "data": {"order_ref", "supplier_order_no", "status"}}

Signed headers: ``X-Supplier-App-Id``, ``X-Supplier-Timestamp`` (seconds since the epoch; refused
when more than 300 s off), ``X-Supplier-Nonce`` (refused when seen before), and
``X-Supplier-Signature`` = Base64(HMAC-SHA256(secret, METHOD "\\n" PATH "\\n" TIMESTAMP "\\n"
NONCE "\\n" hex(SHA-256(body)))). Refusals: HTTP 401 with ``{"code": "SIGN_INVALID" | ...}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from ihis.platform.errors import UpstreamFailed

STOCK_PATH: Final = "/v1/stock/query"
ORDERS_PATH: Final = "/v1/orders"
APP_ID_HEADER: Final = "X-Supplier-App-Id"
TIMESTAMP_HEADER: Final = "X-Supplier-Timestamp"
NONCE_HEADER: Final = "X-Supplier-Nonce"
SIGNATURE_HEADER: Final = "X-Supplier-Signature"
TIMESTAMP_TOLERANCE_SECONDS: Final = 300
CODE_OK: Final = "0"
CODE_STOCK_SHORT: Final = "STOCK_SHORT"
MAX_CODES: Final = 500


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The text both sides sign."""
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()])


def sign(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def signature_matches(secret: str, text: str, presented: str) -> bool:
    return hmac.compare_digest(sign(secret, text).encode(), presented.encode())


@dataclass(frozen=True)
class OrderLine:
    drug_code: str
    quantity: int  # packages


@dataclass(frozen=True)
class SupplierOrder:
    """The supplier's view of one pushed order."""

    order_ref: str
    supplier_order_no: str
    status: str  # accepted | shipped | delivered | cancelled


class SupplierUnavailable(UpstreamFailed):
    """The supplier failed, refused our signature or answered garbage (-> 502)."""

    code = "supplier_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(
            "合作药房系统暂不可用，请稍后再试", "The partner supplier is unavailable; try again later"
        )
        self.reason = reason


class SupplierStockShort(UpstreamFailed):
    """The supplier cannot fill an order line (its stock moved since our last sync)."""

    code = "supplier_stock_short"
    status = 409

    def __init__(self, drug_code: str) -> None:
        super().__init__(f"合作药房 {drug_code} 库存不足", f"The supplier is short of {drug_code}")
        self.drug_code = drug_code


class SupplierGateway(Protocol):
    """Anything that speaks the supplier protocol (the HTTP client, or a fake in unit tests)."""

    def stock(self, drug_codes: Sequence[str]) -> dict[str, int]:  # pragma: no cover - protocol
        """Packages the supplier can deliver, per drug code it knows."""
        ...

    def push_order(self, order_ref: str, lines: Sequence[OrderLine]) -> SupplierOrder:  # pragma: no cover
        """Hand an order over (idempotent by ``order_ref``)."""
        ...

    def order(self, order_ref: str) -> SupplierOrder:  # pragma: no cover - protocol
        """The supplier's status of an order we pushed."""
        ...
