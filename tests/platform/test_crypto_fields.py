"""Field encryption: tokens record suite and key, old keys keep decrypting, columns are encrypted."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.crypto.fields import decrypt_field, encrypt_field, token_key
from ihis.platform.crypto.suites import CryptoError
from ihis.settings import CryptoSuite, Settings
from tests.factories import make_institution, make_patient
from tests.factories_crypto import KEY_A, KEY_B, crypto_settings


def test_a_token_names_suite_and_key_and_never_contains_the_value(settings: Settings) -> None:
    with crypto_settings(settings, field_keys=f"a1:{KEY_A}"):
        token = encrypt_field("110105194912310021")
    assert token.startswith("v1:intl:a1:")
    assert "110105194912310021" not in token
    assert token_key(token) == ("intl", "a1")


def test_encrypting_twice_gives_different_tokens_for_the_same_value(settings: Settings) -> None:
    with crypto_settings(settings, field_keys=f"a1:{KEY_A}"):
        first, second = encrypt_field("13012345689"), encrypt_field("13012345689")
        assert first != second
        assert decrypt_field(first) == decrypt_field(second) == "13012345689"


@pytest.mark.parametrize("suite", [CryptoSuite.INTL, CryptoSuite.GM])
def test_each_suite_round_trips_chinese_text(settings: Settings, suite: CryptoSuite) -> None:
    with crypto_settings(settings, crypto_suite=suite, field_keys=f"a1:{KEY_A}"):
        token = encrypt_field("北京市朝阳区建国路88号")
        assert token.startswith(f"v1:{suite.value}:a1:")
        assert decrypt_field(token) == "北京市朝阳区建国路88号"


def test_old_keys_and_the_previous_suite_still_decrypt(settings: Settings) -> None:
    with crypto_settings(settings, field_keys=f"a1:{KEY_A}"):
        old = encrypt_field("13012345689")
    with crypto_settings(settings, crypto_suite=CryptoSuite.GM, field_keys=f"b2:{KEY_B},a1:{KEY_A}"):
        assert encrypt_field("x").startswith("v1:gm:b2:")
        assert decrypt_field(old) == "13012345689"
    with (
        crypto_settings(settings, field_keys=f"b2:{KEY_B}"),
        pytest.raises(CryptoError, match="'a1' is not configured"),
    ):
        decrypt_field(old)


def test_a_token_relabelled_to_another_key_or_suite_is_refused(settings: Settings) -> None:
    with crypto_settings(settings, field_keys=f"a1:{KEY_A},b2:{KEY_A}"):
        token = encrypt_field("13012345689")
        body = token.split(":", 3)[3]
        # Same key bytes under another id: only the authenticated header differs.
        with pytest.raises(CryptoError):
            decrypt_field(f"v1:intl:b2:{body}")
        with pytest.raises(CryptoError):
            decrypt_field(f"v1:gm:a1:{body}")


@pytest.mark.parametrize(
    "bad", ["13012345689", "v1:intl:a1:", "v1:intl:a1:%%%", "v2:intl:a1:AAAA", "v1:xx:a1:AAAA"]
)
def test_anything_but_an_intact_token_fails_to_decrypt(settings: Settings, bad: str) -> None:
    with crypto_settings(settings, field_keys=f"a1:{KEY_A}"), pytest.raises(CryptoError):
        decrypt_field(bad)


def test_a_tampered_token_fails_to_decrypt(settings: Settings) -> None:
    with crypto_settings(settings, field_keys=f"a1:{KEY_A}"):
        token = encrypt_field("13012345689")
        last = token[-2]
        tampered = token[:-2] + ("A" if last != "A" else "B") + token[-1]
        with pytest.raises(CryptoError):
            decrypt_field(tampered)


def test_encrypted_columns_hold_tokens_and_read_back_plain(db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, phone="13012345689")
    db.commit()
    stored = db.execute(
        text("SELECT phone FROM user_account WHERE id = :id"), {"id": patient.id}
    ).scalar_one()
    assert stored.startswith("v1:") and "13012345689" not in stored
    db.expire_all()
    assert db.scalar(select(UserAccount.phone).where(UserAccount.id == patient.id)) == "13012345689"


def test_null_stays_null_in_an_encrypted_column(db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    patient.totp_secret = None
    db.commit()
    stored = db.execute(
        text("SELECT totp_secret FROM user_account WHERE id = :id"), {"id": patient.id}
    ).scalar()
    assert stored is None
