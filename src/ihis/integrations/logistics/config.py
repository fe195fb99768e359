"""Where the courier is and who we are to it (settings, with the sandbox defaults filled in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ihis.integrations.logistics.protocol import CourierError
from ihis.settings import Settings

SANDBOX_API_PATH: Final = "/sandbox/courier/api"
NOTIFY_PATH: Final = "/api/v1/integrations/logistics/notify"
# The sandbox courier accepts exactly these unless the IHIS_COURIER_* settings are set (then both
# sides use the configured values). Public development values, never used in production.
DEV_APP_ID: Final = "ihis-sandbox-courier"
DEV_APP_SECRET: Final = "ihis-sandbox-courier-app-secret-dev-only"  # noqa: S105 - public sandbox value
DEV_NOTIFY_SECRET: Final = "ihis-sandbox-courier-notify-secret-dev-only"  # noqa: S105
DEFAULT_POLL_AFTER_MINUTES: Final = 30


def _setting(settings: Settings, name: str, default: Any) -> Any:
    # The only place these fields are read: switch to plain attributes once settings.py has them.
    value = getattr(settings, name, default)
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    return value


@dataclass(frozen=True)
class CourierConfig:
    """The courier endpoint, our app id and secrets, our notify URL, the sandbox knobs."""

    base_url: str
    app_id: str
    app_secret: str
    notify_secret: str
    notify_url: str
    poll_after_minutes: int = DEFAULT_POLL_AFTER_MINUTES
    sandbox_auto_advance_seconds: int = 0
    sandbox_notify_retry_scale: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> CourierConfig:
        """Settings, with the sandbox defaults when ``settings.sandbox`` is on."""
        base = _setting(settings, "courier_api_url", None)
        app_id = _setting(settings, "courier_app_id", None)
        secret = _setting(settings, "courier_app_secret", None)
        notify_secret = _setting(settings, "courier_notify_secret", None)
        if settings.sandbox:
            base = base or settings.public_url(SANDBOX_API_PATH)
            app_id = app_id or DEV_APP_ID
            secret = secret or DEV_APP_SECRET
            notify_secret = notify_secret or DEV_NOTIFY_SECRET
        if not base or not app_id or not secret or not notify_secret:
            raise CourierError("not_configured", retryable=True)
        return cls(
            base_url=str(base).rstrip("/"),
            app_id=str(app_id),
            app_secret=str(secret),
            notify_secret=str(notify_secret),
            notify_url=settings.public_url(NOTIFY_PATH),
            poll_after_minutes=int(
                _setting(settings, "courier_poll_after_minutes", DEFAULT_POLL_AFTER_MINUTES)
            ),
            sandbox_auto_advance_seconds=int(_setting(settings, "courier_sandbox_auto_advance_seconds", 0)),
            sandbox_notify_retry_scale=float(_setting(settings, "courier_notify_retry_scale", 1.0)),
        )
