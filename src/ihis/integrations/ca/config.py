"""Settings of the signing infrastructure (CA, TSA, PIN rules), read in one place.

The fields are not in ``ihis.settings.Settings`` yet (docs/signing.md lists them); until they are,
``signing_settings`` reads them with defaults so that switching to the real fields is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from ihis.settings import Settings


@dataclass(frozen=True)
class SigningSettings:
    """CA and TSA endpoints and credentials, trust anchors, PIN attempt limits."""

    ca_api_url: str | None
    ca_api_key: str | None
    ca_api_secret: str | None
    ca_root_cert_pem: str | None
    tsa_url: str | None
    tsa_root_cert_pem: str | None
    pin_max_attempts: int
    pin_lock_minutes: int


def _secret(value: object) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value() or None
    return str(value) if value else None


def signing_settings(settings: Settings) -> SigningSettings:
    """The signing settings of ``settings``."""
    return SigningSettings(
        ca_api_url=settings.ca_api_url,
        ca_api_key=_secret(settings.ca_api_key),
        ca_api_secret=_secret(settings.ca_api_secret),
        ca_root_cert_pem=settings.ca_root_cert_pem,
        tsa_url=settings.tsa_url,
        tsa_root_cert_pem=settings.tsa_root_cert_pem,
        pin_max_attempts=settings.signing_pin_max_attempts,
        pin_lock_minutes=settings.signing_pin_lock_minutes,
    )
