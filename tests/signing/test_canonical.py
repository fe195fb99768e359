"""Canonical JSON: the same content gives the same bytes, whatever its key order or Unicode form."""

from __future__ import annotations

import pytest

from ihis.signing.canonical import NotCanonicalisable, canonical_bytes, digest, hash_name_of_suite


def test_keys_are_sorted_and_there_is_no_whitespace() -> None:
    assert canonical_bytes({"b": [1, True, None], "a": {"d": "x", "c": -2}}) == (
        b'{"a":{"c":-2,"d":"x"},"b":[1,true,null]}'
    )


def test_key_order_does_not_change_the_bytes() -> None:
    assert canonical_bytes({"x": 1, "y": 2}) == canonical_bytes({"y": 2, "x": 1})


def test_strings_are_nfc_normalised_utf8_without_escapes() -> None:
    composed, decomposed = "caf\u00e9 头痛", "cafe\u0301 头痛"
    assert canonical_bytes({"t": composed}) == canonical_bytes({"t": decomposed})
    assert canonical_bytes({"t": composed}) == '{"t":"café 头痛"}'.encode()


def test_floats_and_non_json_values_are_refused_naming_the_path() -> None:
    with pytest.raises(NotCanonicalisable) as caught:
        canonical_bytes({"items": [{"price": 1.5}]})
    assert caught.value.path == "$.items[0].price"
    with pytest.raises(NotCanonicalisable):
        canonical_bytes({"when": object()})
    with pytest.raises(NotCanonicalisable):
        canonical_bytes({1: "non-string key"})


def test_keys_equal_after_normalisation_are_refused() -> None:
    with pytest.raises(NotCanonicalisable):
        canonical_bytes({"caf\u00e9": 1, "cafe\u0301": 2})


def test_the_digest_follows_the_crypto_suite() -> None:
    assert hash_name_of_suite("intl") == "sha256" and hash_name_of_suite("gm") == "sm3"
    # GB/T 32905-2016 A.1 and FIPS 180-2 test vectors for "abc".
    assert digest("sm3", b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert digest("sha256", b"abc").hex().startswith("ba7816bf")
