"""The production supplier client: signed JSON over HTTPS per ``protocol``.

Every call is safe to repeat — the stock query reads, an order push is deduplicated by the supplier
on ``order_ref``, the order query reads — so transport errors and 502/503/504 are retried with
backoff; each attempt is signed afresh (the supplier refuses a reused nonce). Timeouts are those
of the ``httpx.Client`` passed in (``ihis.integrations.http.outbound_client``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import httpx
import structlog

from ihis.integrations.supplier import protocol
from ihis.integrations.supplier.protocol import (
    OrderLine,
    SupplierOrder,
    SupplierStockShort,
    SupplierUnavailable,
)
from ihis.platform.clock import utcnow
from ihis.settings import Settings

log = structlog.get_logger(__name__)

SANDBOX_PATH = "/sandbox/supplier"
# The sandbox supplier accepts exactly these unless IHIS_SUPPLIER_APP_ID / IHIS_SUPPLIER_APP_SECRET
# are set (then both sides use those).
DEV_APP_ID = "ihis-sandbox-supplier"
DEV_APP_SECRET = "ihis-sandbox-supplier-secret-dev-only"  # noqa: S105 - public sandbox value
RETRY_STATUSES = frozenset({502, 503, 504})


def supplier_settings(settings: Settings) -> tuple[str | None, str | None, str | None]:
    """(api url, app id, app secret) from settings (IHIS_SUPPLIER_*; docs/formulary.md)."""
    secret = settings.supplier_app_secret
    return settings.supplier_api_url, settings.supplier_app_id, secret.get_secret_value() if secret else None


@dataclass(frozen=True)
class SupplierConfig:
    base_url: str
    app_id: str
    app_secret: str

    @classmethod
    def for_pharmacy(cls, settings: Settings, url: str | None, app_id: str | None) -> SupplierConfig:
        """The pharmacy's own URL and app id, else settings, else (sandbox mode) the sandbox defaults."""
        default_url, default_id, secret = supplier_settings(settings)
        base = url or default_url
        ident = app_id or default_id
        if settings.sandbox:
            base = base or settings.public_url(SANDBOX_PATH)
            ident = ident or DEV_APP_ID
            secret = secret or DEV_APP_SECRET
        if not base or not ident or not secret:
            raise SupplierUnavailable("not_configured")
        return cls(base_url=base.rstrip("/"), app_id=ident, app_secret=secret)


class SupplierClient:
    """Talks to one partner supplier."""

    def __init__(
        self,
        http: httpx.Client,
        config: SupplierConfig,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.config = config
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep

    def signed_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """Headers of one attempt: fresh timestamp and nonce, signed."""
        timestamp = str(int(utcnow().timestamp()))
        nonce = uuid.uuid4().hex
        text = protocol.string_to_sign(method, path, timestamp, nonce, body)
        return {
            "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8",
            protocol.APP_ID_HEADER: self.config.app_id,
            protocol.TIMESTAMP_HEADER: timestamp,
            protocol.NONCE_HEADER: nonce,
            protocol.SIGNATURE_HEADER: protocol.sign(self.config.app_secret, text),
        }

    def stock(self, drug_codes: Sequence[str]) -> dict[str, int]:
        """Packages the supplier can deliver, per drug code it knows."""
        found: dict[str, int] = {}
        codes = list(drug_codes)
        for start in range(0, len(codes), protocol.MAX_CODES):
            data = self._call(
                "POST", protocol.STOCK_PATH, {"drug_codes": codes[start : start + protocol.MAX_CODES]}
            )
            try:
                for item in data["items"]:
                    found[str(item["drug_code"])] = int(item["quantity"])
            except (KeyError, TypeError, ValueError) as exc:
                raise SupplierUnavailable("bad_response:items") from exc
        return found

    def push_order(self, order_ref: str, lines: Sequence[OrderLine]) -> SupplierOrder:
        """Hand an order over (idempotent by ``order_ref``)."""
        body = {
            "order_ref": order_ref,
            "lines": [{"drug_code": line.drug_code, "quantity": line.quantity} for line in lines],
        }
        return self._order(self._call("POST", protocol.ORDERS_PATH, body))

    def order(self, order_ref: str) -> SupplierOrder:
        """The supplier's status of an order we pushed."""
        return self._order(self._call("GET", f"{protocol.ORDERS_PATH}/{order_ref}", None))

    @staticmethod
    def _order(data: dict[str, Any]) -> SupplierOrder:
        try:
            return SupplierOrder(str(data["order_ref"]), str(data["supplier_order_no"]), str(data["status"]))
        except (KeyError, TypeError) as exc:
            raise SupplierUnavailable("bad_response:order") from exc

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        body = (
            b""
            if payload is None
            else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        )
        base = httpx.URL(self.config.base_url)
        # Signed as the server sees it (decoded); sent percent-encoded.
        full_path = unquote(base.raw_path.decode()).rstrip("/") + path
        url = base.copy_with(raw_path=quote(full_path, safe="/:").encode())
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            headers = self.signed_headers(method, full_path, body)
            try:
                response = self.http.request(method, url, headers=headers, content=body or None)
            except httpx.HTTPError as exc:
                if last:
                    raise SupplierUnavailable(f"transport:{type(exc).__name__}") from exc
                log.warning("supplier_retry", attempt=attempt, error=type(exc).__name__)
                self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                log.warning("supplier_retry", attempt=attempt, status_code=response.status_code)
                self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
                continue
            return self._answer(response)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _answer(response: httpx.Response) -> dict[str, Any]:
        try:
            answer = response.json()
        except ValueError as exc:
            raise SupplierUnavailable(f"http_{response.status_code}:not_json") from exc
        code = answer.get("code") if isinstance(answer, dict) else None
        if response.status_code == 409 and code == protocol.CODE_STOCK_SHORT:
            raise SupplierStockShort(str(answer.get("drug_code", "")))
        if (
            response.status_code != 200
            or code != protocol.CODE_OK
            or not isinstance(answer.get("data"), dict)
        ):
            raise SupplierUnavailable(f"http_{response.status_code}:{code}"[:120])
        data: dict[str, Any] = answer["data"]
        return data
