"""In production the app refuses to start with default or missing secrets, and says which."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr

from ihis.settings import Environment, InsecureSettings, Settings

GOOD = {
    "secret_key": SecretStr("s" * 48),
    "field_keys": SecretStr("k9:" + base64.b64encode(os.urandom(32)).decode()),
    "blind_index_key": SecretStr("b" * 48),
    "sandbox": False,
    "sms_api_url": "https://sms.example.cn",
    "sms_api_key": SecretStr("key"),
    "sms_api_secret": SecretStr("secret"),
    "realname_api_url": "https://rn.example.cn",
    "realname_api_key": SecretStr("key"),
    "realname_api_secret": SecretStr("secret"),
    "ca_api_url": "https://ca.example.cn",
    "ca_api_key": SecretStr("key"),
    "ca_api_secret": SecretStr("secret"),
    "ca_root_cert_pem": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
    "tsa_url": "https://tsa.example.cn",
    "tsa_root_cert_pem": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
    "courier_api_url": "https://courier.example.cn",
    "courier_app_id": "ihis",
    "courier_app_secret": SecretStr("secret"),
    "courier_notify_secret": SecretStr("notify"),
}


def test_production_with_every_default_is_refused_naming_each_setting() -> None:
    with pytest.raises(InsecureSettings) as refused:
        Settings(env=Environment.PRODUCTION)
    message = str(refused.value)
    for name in (
        "IHIS_SECRET_KEY",
        "IHIS_FIELD_KEYS",
        "IHIS_BLIND_INDEX_KEY",
        "IHIS_SANDBOX",
        "IHIS_SMS_API_URL",
    ):
        assert name in message


@pytest.mark.parametrize(
    "missing", ["secret_key", "field_keys", "blind_index_key", "realname_api_secret", "ca_api_secret"]
)
def test_production_names_the_one_missing_secret(missing: str) -> None:
    values = {**GOOD, missing: SecretStr("")}
    with pytest.raises(InsecureSettings) as refused:
        Settings(env=Environment.PRODUCTION, **values)
    assert "IHIS_" + missing.upper() in str(refused.value)


def test_production_with_real_secrets_starts() -> None:
    settings = Settings(env=Environment.PRODUCTION, **GOOD)
    assert settings.is_production and settings.secure_cookies


def test_production_refusal_also_stops_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from ihis import cli
    from ihis.settings import get_settings

    monkeypatch.setenv("IHIS_ENV", "production")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert isinstance(result.exception, InsecureSettings)
    assert "IHIS_SECRET_KEY" in str(result.exception)


def test_development_defaults_are_usable() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///./var/ihis.db"
    assert settings.session_idle_minutes == 30 and settings.session_absolute_hours == 12
    assert (settings.lockout_threshold, settings.lockout_window_minutes, settings.lockout_minutes) == (
        5,
        15,
        15,
    )
    assert not settings.secure_cookies
