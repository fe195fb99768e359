"""The production courier client: signed JSON over HTTPS (``signing``), typed errors, safe retries.

Every attempt is signed afresh (new timestamp and nonce): the courier refuses a replayed nonce, so
a retry never resends the same bytes, which is why ``request_with_retries`` is not used. Retries
(transport errors, 429, 5xx) are made only for idempotent calls: booking is idempotent by our
order ref, cancelling by the waybill number, and tracking is a read. Timeouts are those of the
``httpx.Client`` passed in (``ihis.integrations.http.outbound_client``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from ihis.integrations.logistics import signing
from ihis.integrations.logistics.config import CourierConfig
from ihis.integrations.logistics.protocol import (
    CourierError,
    TrackingEvent,
    Waybill,
    WaybillRequest,
)

log = structlog.get_logger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def event_from_wire(item: dict[str, Any]) -> TrackingEvent:
    """A tracking event as the courier writes it (the notify push and the tracking query)."""
    occurred = dt.datetime.fromisoformat(str(item["occurred_at"]))
    if occurred.tzinfo is None:
        raise ValueError("occurred_at must carry its UTC offset")
    return TrackingEvent(
        event_id=str(item["event_id"]),
        waybill_no=str(item["waybill_no"]),
        status=str(item["status"]),
        occurred_at=occurred.astimezone(dt.UTC),
        location=str(item.get("location") or ""),
        description=str(item.get("description") or ""),
        order_ref=str(item["order_ref"]) if item.get("order_ref") else None,
    )


def event_to_wire(event: TrackingEvent) -> dict[str, Any]:
    """The courier's JSON of one tracking event."""
    return {
        "event_id": event.event_id,
        "waybill_no": event.waybill_no,
        "order_ref": event.order_ref,
        "status": event.status,
        "occurred_at": event.occurred_at.isoformat(),
        "location": event.location,
        "description": event.description,
    }


class HttpCourierClient:
    """``CourierGateway`` speaking the courier's signed JSON API."""

    def __init__(
        self,
        http: httpx.Client,
        config: CourierConfig,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.config = config
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep

    def create_waybill(self, req: WaybillRequest) -> Waybill:
        """Book a pickup (idempotent by ``req.order_ref``: a retry returns the same waybill)."""
        body = {**asdict(req), "notify_url": self.config.notify_url}
        data = self._call("POST", "/waybills", body, idempotent=True)
        return Waybill(
            waybill_no=str(data["waybill_no"]), order_ref=str(data["order_ref"]), status=str(data["status"])
        )

    def cancel_waybill(self, waybill_no: str, reason: str) -> None:
        """Cancel a waybill not yet picked up (cancelling twice is the same as once)."""
        self._call(
            "POST", f"/waybills/{quote(waybill_no, safe='')}/cancel", {"reason": reason}, idempotent=True
        )

    def query_tracking(self, waybill_no: str) -> list[TrackingEvent]:
        """Every event of the waybill so far (the courier's own order)."""
        data = self._call("GET", f"/waybills/{quote(waybill_no, safe='')}/events", None, idempotent=True)
        try:
            return [event_from_wire(item) for item in data["events"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise CourierError("bad_response", retryable=True) from exc

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, *, idempotent: bool
    ) -> dict[str, Any]:
        attempts = self.attempts if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(method, path, body)
            except CourierError as exc:
                if not exc.retryable or attempt == attempts:
                    raise
                log.warning(
                    "courier_call_retry", path_kind=path.split("/")[-1], attempt=attempt, code=exc.code
                )
                self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        url = httpx.URL(self.config.base_url + path)
        text = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        headers = signing.signed_headers(self.config.app_id, self.config.app_secret, method, url.path, text)
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = self.http.request(
                method, url, content=text.encode() if body is not None else None, headers=headers
            )
        except httpx.HTTPError as exc:
            raise CourierError(f"transport:{type(exc).__name__}", retryable=True) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        code = str(answer.get("code", "")) if isinstance(answer, dict) else ""
        if response.status_code == 200 and code == "OK":
            data = answer.get("data") if isinstance(answer, dict) else None
            return data if isinstance(data, dict) else {}
        retryable = response.status_code in RETRYABLE_STATUSES
        if response.status_code == 401:
            code = "signature_rejected"
        raise CourierError(
            (code or f"http_{response.status_code}").lower(), retryable=retryable, status=response.status_code
        )
