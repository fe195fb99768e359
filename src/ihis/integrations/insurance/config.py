"""Where the insurance platform is and who we are to it (settings, sandbox defaults filled in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ihis.integrations.insurance.protocol import InsuranceError
from ihis.settings import Settings

SANDBOX_API_PATH: Final = "/sandbox/insurance/api"
# The sandbox platform accepts exactly these unless IHIS_INSURANCE_* settings are set.
DEV_APP_ID: Final = "ihis-sandbox-insurance"
DEV_APP_SECRET: Final = "ihis-sandbox-insurance-secret-dev-only"  # noqa: S105 - public sandbox value


def _setting(settings: Settings, name: str, default: Any) -> Any:
    # The only place these fields are read: switch to plain attributes once settings.py has them.
    value = getattr(settings, name, default)
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    return value


@dataclass(frozen=True)
class InsuranceConfig:
    """The platform endpoint (``{base}/{infno}``) and our paasid and secret."""

    base_url: str
    app_id: str
    app_secret: str

    @classmethod
    def from_settings(cls, settings: Settings) -> InsuranceConfig:
        """Settings, with the sandbox defaults when ``settings.sandbox`` is on."""
        base = _setting(settings, "insurance_api_url", None)
        app_id = _setting(settings, "insurance_app_id", None)
        secret = _setting(settings, "insurance_app_secret", None)
        if settings.sandbox:
            base = base or settings.public_url(SANDBOX_API_PATH)
            app_id = app_id or DEV_APP_ID
            secret = secret or DEV_APP_SECRET
        if not base or not app_id or not secret:
            raise InsuranceError("not_configured", retryable=True)
        return cls(base_url=str(base).rstrip("/"), app_id=str(app_id), app_secret=str(secret))
