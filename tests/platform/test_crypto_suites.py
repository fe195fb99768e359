"""Hashing and encryption per suite: intl (SHA-256, AES-256-GCM) and gm 国密 (SM3, SM4)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import SecretStr

from ihis.platform.crypto import CryptoConfigError, digest_hex, keyring
from ihis.platform.crypto.fields import blind_index
from ihis.platform.crypto.suites import GM, INTL, CryptoError, Suite, hash_hex
from ihis.settings import CryptoSuite, Settings
from tests.factories_crypto import KEY_A, crypto_settings


def test_sm3_of_abc_matches_the_standard_vector() -> None:
    # DOMAIN.md §8 test vectors (GB/T 32905-2016 A.1).
    assert (
        hash_hex("sm3", b"abc").upper() == "66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0"
    )


def test_sha256_suite_hash_is_plain_sha256() -> None:
    assert INTL.digest(b"abc").hex() == hashlib.sha256(b"abc").hexdigest()


def test_sm4_primitive_matches_the_regulator_vectors() -> None:
    # DOMAIN.md §8: SM4-CBC with the Tianjin appSecret, fixed IV, ISO/IEC 7816-4 padding.
    key = bytes.fromhex("bbf1dd188b8b4629853f06f118d11e4a")
    iv = bytes.fromhex("abcd0863ef9087ced675985321bedf67")

    def sm4_cbc(data: bytes) -> str:
        padded = data + b"\x80" + b"\x00" * (15 - len(data) % 16)
        enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
        return (enc.update(padded) + enc.finalize()).hex()

    assert sm4_cbc(b"[1]") == "49a9a1cb6403aa7ca5d7be3287b0dc6b"
    assert sm4_cbc(b"0123456789abcdef") == "a9f4a4c761cf5110a2adbd8e1cdb79b025db47d12e40bf0803278053400e9f40"


def test_digest_hex_follows_the_configured_suite(settings: Settings) -> None:
    with crypto_settings(settings, crypto_suite=CryptoSuite.INTL):
        assert digest_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    with crypto_settings(settings, crypto_suite=CryptoSuite.GM):
        assert digest_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_blind_index_is_keyed_and_separated_by_purpose(settings: Settings) -> None:
    key = settings.blind_index_key.get_secret_value().encode()
    expected = hmac.new(key, b"phone\x0013012345689", hashlib.sha256).hexdigest()
    with crypto_settings(settings, crypto_suite=CryptoSuite.INTL):
        assert blind_index("13012345689", "phone") == expected
        assert blind_index("13012345689", "phone") == expected  # deterministic: usable for lookup
        assert blind_index("13012345689", "login") != expected
    with crypto_settings(settings, blind_index_key="another-blind-index-key-0123"):
        assert blind_index("13012345689", "phone") != expected


def test_blind_index_uses_hmac_sm3_in_the_gm_suite(settings: Settings) -> None:
    mac = crypto_hmac.HMAC(settings.blind_index_key.get_secret_value().encode(), hashes.SM3())
    mac.update(b"id_number\x00110105194912310021")
    with crypto_settings(settings, crypto_suite=CryptoSuite.GM):
        assert blind_index("110105194912310021", "id_number") == mac.finalize().hex()


@pytest.mark.parametrize("suite", [INTL, GM], ids=lambda s: s.name)
def test_aead_refuses_a_changed_ciphertext_or_associated_data(suite: Suite) -> None:
    key, nonce = bytes(range(32)), bytes(12)
    sealed = suite.seal(key, nonce, "李四 13012345689".encode(), b"hdr")
    assert suite.open(key, nonce, sealed, b"hdr").decode() == "李四 13012345689"
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    with pytest.raises(CryptoError):
        suite.open(key, nonce, flipped, b"hdr")
    with pytest.raises(CryptoError):
        suite.open(key, nonce, sealed, b"other")


def test_gm_suite_encrypts_with_sm4_gcm_and_a_16_byte_key_as_given() -> None:
    key, nonce = bytes(range(16)), bytes(range(12))
    sealed = GM.seal(key, nonce, b"data", b"")
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    assert sealed == enc.update(b"data") + enc.finalize() + enc.tag


def test_unusable_key_settings_are_refused_naming_the_setting(settings: Settings) -> None:
    cases = {
        "nokeyid": "IHIS_FIELD_KEYS",
        "k1:not base64!": "not valid base64",
        "k1:" + "QUFB": "must be 32 bytes",
        f"k1:{KEY_A},k1:{KEY_A}": "appears twice",
        "": "empty",
    }
    for spec, fragment in cases.items():
        with pytest.raises(CryptoConfigError, match=fragment) as err:
            keyring.build_keyring(settings.model_copy(update={"field_keys": SecretStr(spec)}))
        assert "QUFB" not in str(err.value)  # never echoes key material
    with pytest.raises(CryptoConfigError, match="IHIS_BLIND_INDEX_KEY"):
        keyring.build_keyring(settings.model_copy(update={"blind_index_key": SecretStr("short")}))


def test_intl_suite_refuses_a_16_byte_active_key(settings: Settings) -> None:
    sixteen = "k1:" + "QUFBQUFBQUFBQUFBQUFBQQ=="
    with pytest.raises(CryptoConfigError, match="AES-256"):
        keyring.build_keyring(settings.model_copy(update={"field_keys": SecretStr(sixteen)}))
    ring = keyring.build_keyring(
        settings.model_copy(update={"field_keys": SecretStr(sixteen), "crypto_suite": CryptoSuite.GM})
    )
    assert ring.active_key_id == "k1"
