"""The insurance adapter against the sandbox platform: classes by catalogue, exact integer splits,
settlement idempotent by our bill ref, signatures refused when bad, and the split invariants."""

from __future__ import annotations

import json
import random
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.integrations.insurance import signing
from ihis.integrations.insurance.client import HttpInsuranceClient
from ihis.integrations.insurance.config import InsuranceConfig
from ihis.integrations.insurance.protocol import (
    InsuranceError,
    InsuranceItemQuery,
    ItemClass,
    Settlement,
    Split,
    SplitLine,
)
from ihis.integrations.insurance.rules import SELF_PAY_RATIO_BP, combine, round_half_up, split_line
from ihis.integrations.insurance.sandbox import seed_catalogue
from ihis.integrations.insurance.service import consistent, split_bill
from ihis.platform.errors import InvalidInput, UpstreamFailed
from ihis.platform.jobs import runtime
from ihis.settings import Settings
from tests.factories_logistics import logistics_app  # noqa: F401

PSN = "11010000000012345678"
# 23-character national codes: X + ATC group letter ... (see the sandbox's catalogue rule).
AMLODIPINE = "XC08CAA040A001010100001"  # C: cardiovascular -> 甲
METFORMIN = "XA10BAE054A001010100002"  # A: metabolism -> 甲
ZOLPIDEM = "XN05CFZ025A001010100003"  # N: nervous system -> 乙
OINTMENT = "XD06AXE011F001010100004"  # D: dermatological -> 丙
PATENT = "ZA04AAL0125010101000005"  # Z: 中成药 -> 乙
HERBAL = "T" + "0" * 22  # T: 中药饮片 -> 乙
# As the demo formulary writes them: X + the 7-character ATC code + 15 digits.
DEMO_AMLODIPINE = "XC08CA01" + "1".zfill(15)
DEMO_AMOXICILLIN = "XJ01CA04" + "2".zfill(15)


@pytest.fixture
def platform(app, settings: Settings) -> HttpInsuranceClient:  # type: ignore[no-untyped-def]
    return HttpInsuranceClient(runtime().http, InsuranceConfig.from_settings(settings))


def item(code: str, quantity: int = 1, price_fen: int = 1000) -> InsuranceItemQuery:
    return InsuranceItemQuery(code, "测试药品", quantity, price_fen)


def test_round_half_up_rounds_halves_up_and_the_rest_to_nearest() -> None:
    assert [round_half_up(n, 2) for n in (3, 4, 5)] == [2, 2, 3]
    assert [round_half_up(n, 10_000) for n in (4_999, 5_000, 15_000)] == [0, 1, 2]
    with pytest.raises(ValueError):
        round_half_up(-1, 2)


def test_items_are_classified_by_the_catalogue_rule(platform: HttpInsuranceClient) -> None:
    codes = [
        AMLODIPINE,
        METFORMIN,
        ZOLPIDEM,
        OINTMENT,
        PATENT,
        HERBAL,
        "NOT-A-CODE",
        DEMO_AMLODIPINE,
        DEMO_AMOXICILLIN,
    ]
    classes = platform.classify([item(c) for c in codes])
    assert [(c.class_, c.self_pay_ratio) for c in classes] == [
        ("甲", 0), ("甲", 0), ("乙", 1000), ("丙", 10000), ("乙", 1000), ("乙", 1000), ("unknown", 10000),
        ("甲", 0), ("乙", 1000),
    ]  # fmt: skip


def test_a_catalogue_entry_overrides_the_default_rule(platform: HttpInsuranceClient, db: Session) -> None:
    seed_catalogue(db, {ZOLPIDEM: "丙", AMLODIPINE: "乙"})
    seed_catalogue(db, {AMLODIPINE: "甲"})
    db.commit()
    assert [c.class_ for c in platform.classify([item(ZOLPIDEM), item(AMLODIPINE)])] == ["丙", "甲"]
    with pytest.raises(ValueError):
        seed_catalogue(db, {"short": "甲"})


def test_presettle_answers_exact_fen_with_the_documented_rounding(platform: HttpInsuranceClient) -> None:
    split = platform.presettle(
        PSN,
        [item(ZOLPIDEM, 3, 1234), item(AMLODIPINE, 1, 1001), item(OINTMENT, 2, 999), item(METFORMIN, 1, 5)],
    )
    # 乙 3702: 370 self-paid first (370.2), fund 70 % of 3332 = 2332 (2332.4), patient 1370.
    # 甲 1001: fund 701 (700.7), patient 300. 丙 1998: all self-pay. 甲 5: fund 4 (3.5 rounds up).
    assert [(line.insurance_fen, line.self_pay_fen) for line in split.lines] == [
        (2332, 1370), (701, 300), (0, 1998), (4, 1)
    ]  # fmt: skip
    assert (split.total_fen, split.insurance_fen, split.self_pay_fen) == (6706, 3037, 3669)


def test_settlement_is_idempotent_by_bill_ref_and_reversible_once(platform: HttpInsuranceClient) -> None:
    items = [item(AMLODIPINE, 2, 2550), item(PATENT, 1, 3800)]
    first = platform.settle("DRUGBILL-1", PSN, items)
    again = platform.settle("DRUGBILL-1", PSN, items)
    assert first == again and first.status == "settled"
    assert first.split == platform.presettle(PSN, items)
    with pytest.raises(InsuranceError) as reused:
        platform.settle("DRUGBILL-1", PSN, [item(AMLODIPINE, 3, 2550)])
    assert reused.value.code == "bill_ref_reused" and not reused.value.retryable
    cancelled = platform.cancel_settlement("DRUGBILL-1")
    assert cancelled.status == "cancelled" and cancelled.settlement_id == first.settlement_id
    assert platform.cancel_settlement("DRUGBILL-1") == cancelled
    with pytest.raises(InsuranceError) as after_cancel:
        platform.settle("DRUGBILL-1", PSN, items)
    assert after_cancel.value.code == "settlement_cancelled"
    with pytest.raises(InsuranceError) as unknown:
        platform.cancel_settlement("DRUGBILL-404")
    assert unknown.value.code == "settlement_not_found"


def test_bad_parameters_are_refused_by_the_platform(platform: HttpInsuranceClient) -> None:
    with pytest.raises(InsuranceError) as bad:
        platform.presettle("!", [item(AMLODIPINE)])
    assert bad.value.code == "param_error"
    with pytest.raises(InsuranceError):
        platform.classify([item(AMLODIPINE, quantity=0)])


def test_a_client_with_the_wrong_secret_is_refused(app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    config = InsuranceConfig.from_settings(settings)
    forged = HttpInsuranceClient(
        runtime().http, config.__class__(**{**config.__dict__, "app_secret": "guess"})
    )
    with pytest.raises(InsuranceError) as refused:
        forged.classify([item(AMLODIPINE)])
    assert refused.value.code == "signature_rejected" and not refused.value.retryable


def _signed(settings: Settings, body: str, *, timestamp: str | None = None) -> dict[str, str]:
    config = InsuranceConfig.from_settings(settings)
    path = "/sandbox/insurance/api/1312"
    headers = signing.signed_headers(config.app_id, config.app_secret, "POST", path, body)
    if timestamp is not None:
        headers[signing.TIMESTAMP_HEADER] = timestamp
        headers[signing.SIGNATURE_HEADER] = signing.signature(
            config.app_secret, "POST", path, timestamp, headers[signing.NONCE_HEADER], body
        )
    return headers


def test_stale_replayed_and_unsigned_requests_are_refused(client: TestClient, settings: Settings) -> None:
    body = json.dumps({"infno": "1312", "msgid": "m1", "input": {"items": [{"code": AMLODIPINE, "name": "x",
                      "quantity": 1, "price_fen": 1}]}})  # fmt: skip
    path = "/sandbox/insurance/api/1312"
    headers = _signed(settings, body)
    assert client.post(path, content=body, headers=headers).json()["infcode"] == 0
    replay = client.post(path, content=body, headers=headers)
    assert replay.status_code == 401 and replay.json()["err_msg"] == "nonce_replayed"
    stale = _signed(settings, body, timestamp=str(int(time.time()) - 600))
    answer = client.post(path, content=body, headers=stale)
    assert answer.status_code == 401 and answer.json()["err_msg"] == "timestamp_out_of_window"
    unsigned = client.post(path, content=body)
    assert unsigned.status_code == 401 and unsigned.json()["err_msg"] == "signature_headers_missing"


def test_each_attempt_is_signed_afresh_and_server_errors_are_retried(settings: Settings) -> None:
    nonces: list[str] = []
    msgids: list[str] = []

    def platform(request: httpx.Request) -> httpx.Response:
        nonces.append(request.headers[signing.NONCE_HEADER])
        msgids.append(json.loads(request.content)["msgid"])
        if len(nonces) == 1:
            return httpx.Response(503)
        return httpx.Response(200, json={"infcode": 0, "output": {"items": []}})

    client = HttpInsuranceClient(
        httpx.Client(transport=httpx.MockTransport(platform)),
        InsuranceConfig.from_settings(settings),
        sleep=lambda _: None,
    )
    assert client.classify([]) == []
    assert len(set(nonces)) == 2 and len(set(msgids)) == 2


def test_split_bill_of_an_uninsured_patient_is_all_self_pay_without_a_call() -> None:
    split = split_bill(None, None, [item(AMLODIPINE, 2, 1500), item(OINTMENT, 1, 99)])
    assert (split.total_fen, split.insurance_fen, split.self_pay_fen) == (3099, 0, 3099)


def test_split_bill_through_the_sandbox_platform(platform: HttpInsuranceClient) -> None:
    split = split_bill(platform, PSN, [item(AMLODIPINE, 1, 1001)])
    assert (split.insurance_fen, split.self_pay_fen) == (701, 300)


def test_split_bill_names_the_field_when_the_patient_is_not_insured(platform: HttpInsuranceClient) -> None:
    with pytest.raises(InvalidInput) as refused:
        split_bill(platform, "110100000000", [item(AMLODIPINE)])
    assert [e.field for e in refused.value.errors] == ["insured_id"]


def test_split_bill_names_bad_lines() -> None:
    with pytest.raises(InvalidInput) as bad:
        split_bill(None, None, [item(AMLODIPINE), item(AMLODIPINE, quantity=0)])
    assert [e.field for e in bad.value.errors] == ["items.1.quantity"]
    with pytest.raises(InvalidInput):
        split_bill(None, None, [])


class _SloppyPlatform:
    """Answers a split whose parts do not add up (a platform bug we must not pass on)."""

    def classify(self, items: list[InsuranceItemQuery]) -> list[ItemClass]:
        raise AssertionError("not called")

    def presettle(self, insured_id: str, items: list[InsuranceItemQuery]) -> Split:
        lines = [
            SplitLine(i.insurance_code, "甲", i.total_fen, i.total_fen // 2, i.total_fen // 2) for i in items
        ]
        return combine(lines)

    def settle(self, bill_ref: str, insured_id: str, items: list[InsuranceItemQuery]) -> Settlement:
        raise AssertionError("not called")

    def cancel_settlement(self, bill_ref: str) -> Settlement:
        raise AssertionError("not called")


def test_split_bill_refuses_an_answer_that_does_not_add_up() -> None:
    assert split_bill(_SloppyPlatform(), PSN, [item(AMLODIPINE, 1, 1000)]).insurance_fen == 500
    with pytest.raises(UpstreamFailed):
        split_bill(_SloppyPlatform(), PSN, [item(AMLODIPINE, 1, 1001)])


class _RulesPlatform(_SloppyPlatform):
    """The sandbox's policy in process, with random classes (for many random bills)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def presettle(self, insured_id: str, items: list[InsuranceItemQuery]) -> Split:
        classes = [self.rng.choice(list(SELF_PAY_RATIO_BP)) for _ in items]
        return combine(
            [
                split_line(i, ItemClass(i.insurance_code, c, SELF_PAY_RATIO_BP[c]))
                for i, c in zip(items, classes, strict=True)
            ]
        )


def _random_items(rng: random.Random) -> list[InsuranceItemQuery]:
    codes = [AMLODIPINE, METFORMIN, ZOLPIDEM, OINTMENT, PATENT, "LOCAL-ONLY"]
    return [
        item(rng.choice(codes), rng.randint(1, 60), rng.choice([0, 1, 5, rng.randint(1, 200_000)]))
        for _ in range(rng.randint(1, 25))
    ]


def test_splits_of_many_random_bills_always_add_up_to_the_total() -> None:
    rng = random.Random(20261122)
    for _ in range(2000):
        items = _random_items(rng)
        split = split_bill(_RulesPlatform(rng), PSN, items)
        assert consistent(split, items)
        assert split.total_fen == sum(i.quantity * i.price_fen for i in items)
        assert split.insurance_fen + split.self_pay_fen == split.total_fen
        assert all(0 <= line.insurance_fen <= line.total_fen for line in split.lines)
        for line in split.lines:
            if line.class_ in ("丙", "unknown"):
                assert line.insurance_fen == 0


def test_splits_of_random_bills_through_the_sandbox_add_up(platform: HttpInsuranceClient) -> None:
    rng = random.Random(7)
    for _ in range(30):
        items = _random_items(rng)
        split = split_bill(platform, PSN, items)
        assert consistent(split, items) and split.total_fen == sum(i.total_fen for i in items)
