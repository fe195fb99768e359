"""Signature vectors of the payment channels: sign then verify; any tampering fails."""

from __future__ import annotations

import base64
import json

import pytest

from ihis.integrations.payment import alipay, rsa, wechatpay
from ihis.integrations.payment.protocol import NotifyRejected

KEY = rsa.generate_private_pem()
PUBLIC = rsa.public_pem_of(KEY)
OTHER = rsa.generate_private_pem()


def test_rsa2_signature_verifies_and_tampering_fails() -> None:
    signature = rsa.sign(KEY, "a=1&b=2")
    assert rsa.verify(PUBLIC, "a=1&b=2", signature)
    assert not rsa.verify(PUBLIC, "a=1&b=3", signature)
    assert not rsa.verify(rsa.public_pem_of(OTHER), "a=1&b=2", signature)
    assert not rsa.verify(PUBLIC, "a=1&b=2", "not base64!")


def test_wechat_authorization_header_signs_the_documented_message() -> None:
    header = wechatpay.authorization(
        "POST", "/v3/pay/transactions/h5", '{"a":1}', mch_id="1900000001", serial="ABC", private_pem=KEY
    )
    assert header.startswith("WECHATPAY2-SHA256-RSA2048 mchid=")
    fields = wechatpay.parse_authorization(header)
    assert fields is not None and fields["mchid"] == "1900000001" and fields["serial_no"] == "ABC"
    message = f'POST\n/v3/pay/transactions/h5\n{fields["timestamp"]}\n{fields["nonce_str"]}\n{{"a":1}}\n'
    assert (
        wechatpay.request_message(
            "POST", "/v3/pay/transactions/h5", fields["timestamp"], fields["nonce_str"], '{"a":1}'
        )
        == message
    )
    assert rsa.verify(PUBLIC, message, fields["signature"])
    assert not rsa.verify(PUBLIC, message.replace("h5", "app"), fields["signature"])
    assert wechatpay.parse_authorization("Bearer x") is None


def test_wechat_notify_headers_verify_and_tampering_fails() -> None:
    body = '{"id":"EV-1"}'
    headers = wechatpay.signed_headers(body, serial="PLAT", private_pem=KEY)
    assert wechatpay.verify_signed(headers, body, PUBLIC, "PLAT") is None
    assert wechatpay.verify_signed(headers, body + " ", PUBLIC, "PLAT") == "signature_mismatch"
    assert wechatpay.verify_signed(headers, body, PUBLIC, "OTHER") == "unknown_platform_serial"
    assert wechatpay.verify_signed({}, body, PUBLIC, "PLAT") == "signature_headers_missing"


def test_wechat_resource_round_trips_and_a_flipped_bit_is_refused() -> None:
    key = "0123456789abcdef0123456789abcdef"
    resource = wechatpay.encrypt_resource(key, '{"out_trade_no":"B1"}', "transaction")
    assert json.loads(wechatpay.decrypt_resource(key, resource)) == {"out_trade_no": "B1"}
    raw = bytearray(base64.b64decode(resource["ciphertext"]))
    raw[0] ^= 1
    with pytest.raises(NotifyRejected):
        wechatpay.decrypt_resource(key, resource | {"ciphertext": base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(NotifyRejected):
        wechatpay.decrypt_resource("f" * 32, resource)
    with pytest.raises(NotifyRejected):
        wechatpay.decrypt_resource(key, resource | {"associated_data": "refund"})


def test_alipay_signing_text_is_sorted_without_sign_and_empty_values() -> None:
    params = {"b": "2", "a": "1", "sign": "x", "empty": "", "sign_type": "RSA2"}
    assert alipay.signing_text(params) == "a=1&b=2&sign_type=RSA2"
    assert alipay.signing_text(params, exclude=("sign", "sign_type")) == "a=1&b=2"


def test_alipay_request_and_notify_signatures_verify_and_tampering_fails() -> None:
    signed = alipay.sign_params({"app_id": "2021", "method": "alipay.trade.query", "sign_type": "RSA2"}, KEY)
    assert rsa.verify(PUBLIC, alipay.signing_text(signed), signed["sign"])
    notify = {"app_id": "2021", "out_trade_no": "B1", "total_amount": "88.01", "sign_type": "RSA2"}
    notify["sign"] = rsa.sign(KEY, alipay.signing_text(notify, exclude=("sign", "sign_type")))
    assert alipay.verify_notify_params(notify, PUBLIC)
    assert not alipay.verify_notify_params(notify | {"total_amount": "0.01"}, PUBLIC)
    assert not alipay.verify_notify_params(notify | {"sign_type": "RSA"}, PUBLIC)


def test_alipay_answer_signature_covers_the_raw_inner_object() -> None:
    body = alipay.signed_response("alipay.trade.query", {"code": "10000", "msg": "Success"}, KEY)
    inner = alipay._inner_text(body, "alipay.trade.query")
    assert inner == '{"code":"10000","msg":"Success"}'
    assert rsa.verify(PUBLIC, inner, json.loads(body)["sign"])
    assert not rsa.verify(PUBLIC, inner.replace("10000", "40004"), json.loads(body)["sign"])


@pytest.mark.parametrize(("fen", "text"), [(1, "0.01"), (8801, "88.01"), (100, "1.00"), (123456, "1234.56")])
def test_amounts_convert_exactly_between_fen_and_yuan(fen: int, text: str) -> None:
    assert alipay.yuan(fen) == text
    assert alipay.fen_of(text) == fen


def test_a_yuan_amount_finer_than_a_fen_is_refused() -> None:
    assert alipay.fen_of("1.005") is None
    assert alipay.fen_of("abc") is None
