"""The production insurance client: signed JSON (``signing``) to ``{base}/{infno}``, typed errors.

Messages follow the national platform's envelope: ``{"infno", "msgid", "input"}`` in,
``{"infcode": 0 | -1, "err_msg", "output"}`` out (``err_code`` names a refusal). Every attempt is
signed afresh and carries a new ``msgid``. All five transactions are safe to repeat (two queries, a
pre-settlement that records nothing, and settlement and reversal keyed by our bill ref), so
transport errors, 429 and 5xx are retried with backoff.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import structlog

from ihis.integrations.insurance import signing
from ihis.integrations.insurance.config import InsuranceConfig
from ihis.integrations.insurance.protocol import (
    INFNO_CANCEL,
    INFNO_CLASSIFY,
    INFNO_PERSON,
    INFNO_PRESETTLE,
    INFNO_SETTLE,
    InsuranceError,
    InsuranceItemQuery,
    ItemClass,
    PersonInsurance,
    Settlement,
    Split,
    SplitLine,
)

log = structlog.get_logger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def items_to_wire(items: list[InsuranceItemQuery]) -> list[dict[str, Any]]:
    """Bill lines as the platform reads them."""
    return [
        {"code": i.insurance_code, "name": i.name, "quantity": i.quantity, "price_fen": i.price_fen}
        for i in items
    ]


def split_to_wire(split: Split) -> dict[str, Any]:
    """A split as the platform writes it."""
    return {
        "total_fen": split.total_fen,
        "insurance_fen": split.insurance_fen,
        "self_pay_fen": split.self_pay_fen,
        "lines": [
            {
                "code": line.insurance_code,
                "class": line.class_,
                "total_fen": line.total_fen,
                "insurance_fen": line.insurance_fen,
                "self_pay_fen": line.self_pay_fen,
            }
            for line in split.lines
        ],
    }


def split_from_wire(data: dict[str, Any]) -> Split:
    """A split as the platform wrote it (shape only; ``service.split_bill`` checks the sums)."""
    lines = tuple(
        SplitLine(
            insurance_code=str(line["code"]),
            class_=str(line["class"]),
            total_fen=int(line["total_fen"]),
            insurance_fen=int(line["insurance_fen"]),
            self_pay_fen=int(line["self_pay_fen"]),
        )
        for line in data["lines"]
    )
    return Split(
        total_fen=int(data["total_fen"]),
        insurance_fen=int(data["insurance_fen"]),
        self_pay_fen=int(data["self_pay_fen"]),
        lines=lines,
    )


class HttpInsuranceClient:
    """``InsuranceGateway`` speaking the platform's signed JSON API."""

    def __init__(
        self,
        http: httpx.Client,
        config: InsuranceConfig,
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

    def person_info(self, id_number: str, name: str) -> PersonInsurance:
        """1101: the person's number, scheme and insured area (resident ID card, 证件类型 01)."""
        query = {
            "mdtrt_cert_type": "02",  # 就诊凭证类型 02: 居民身份证
            "mdtrt_cert_no": id_number,
            "psn_cert_type": "01",  # 人员证件类型 01: 居民身份证
            "certno": id_number,
            "psn_name": name,
        }
        output = self._call(INFNO_PERSON, query)
        try:
            base, insured = output["baseinfo"], output["insuinfo"]
            first = insured[0]
            return PersonInsurance(
                psn_no=str(base["psn_no"]),
                insutype=str(first["insutype"]),
                insuplc_admdvs=str(first["insuplc_admdvs"]),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise InsuranceError("bad_response", retryable=True) from exc

    def classify(self, items: list[InsuranceItemQuery]) -> list[ItemClass]:
        """1312: the class and self-pay-first ratio of each item, in order."""
        output = self._call(INFNO_CLASSIFY, {"items": items_to_wire(items)})
        try:
            return [
                ItemClass(str(i["code"]), str(i["class"]), int(i["self_pay_ratio_bp"]))
                for i in output["items"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise InsuranceError("bad_response", retryable=True) from exc

    def presettle(self, insured_id: str, items: list[InsuranceItemQuery]) -> Split:
        """2206: the split the platform would settle now."""
        output = self._call(INFNO_PRESETTLE, {"psn_no": insured_id, "items": items_to_wire(items)})
        return self._split(output)

    def settle(self, bill_ref: str, insured_id: str, items: list[InsuranceItemQuery]) -> Settlement:
        """2207: settle ``bill_ref`` (idempotent by the ref)."""
        output = self._call(
            INFNO_SETTLE, {"bill_ref": bill_ref, "psn_no": insured_id, "items": items_to_wire(items)}
        )
        return self._settlement(output)

    def cancel_settlement(self, bill_ref: str) -> Settlement:
        """2208: reverse the settlement of ``bill_ref`` (idempotent)."""
        return self._settlement(self._call(INFNO_CANCEL, {"bill_ref": bill_ref}))

    def _split(self, output: dict[str, Any]) -> Split:
        try:
            return split_from_wire(output)
        except (KeyError, TypeError, ValueError) as exc:
            raise InsuranceError("bad_response", retryable=True) from exc

    def _settlement(self, output: dict[str, Any]) -> Settlement:
        try:
            return Settlement(
                bill_ref=str(output["bill_ref"]),
                settlement_id=str(output["setl_id"]),
                status=str(output["status"]),
                split=split_from_wire(output["split"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InsuranceError("bad_response", retryable=True) from exc

    def _call(self, infno: str, payload: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(1, self.attempts + 1):
            try:
                return self._attempt(infno, payload)
            except InsuranceError as exc:
                if not exc.retryable or attempt == self.attempts:
                    raise
                log.warning("insurance_call_retry", infno=infno, attempt=attempt, code=exc.code)
                self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, infno: str, payload: dict[str, Any]) -> dict[str, Any]:
        url = httpx.URL(f"{self.config.base_url}/{infno}")
        envelope = {"infno": infno, "msgid": uuid.uuid4().hex, "input": payload}
        text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        headers = signing.signed_headers(self.config.app_id, self.config.app_secret, "POST", url.path, text)
        headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = self.http.post(url, content=text.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise InsuranceError(f"transport:{type(exc).__name__}", retryable=True) from exc
        if response.status_code in RETRYABLE_STATUSES:
            raise InsuranceError(f"http_{response.status_code}", retryable=True, status=response.status_code)
        if response.status_code == 401:
            raise InsuranceError("signature_rejected", retryable=False, status=401)
        try:
            answer = response.json()
        except ValueError as exc:
            raise InsuranceError("bad_response", retryable=True, status=response.status_code) from exc
        if not isinstance(answer, dict):
            raise InsuranceError("bad_response", retryable=True, status=response.status_code)
        if answer.get("infcode") == 0 and isinstance(answer.get("output"), dict):
            output: dict[str, Any] = answer["output"]
            return output
        code = str(answer.get("err_code") or f"http_{response.status_code}").lower()
        raise InsuranceError(code, retryable=False, status=response.status_code)
