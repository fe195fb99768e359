"""Structured JSON logs with request ids; personal data never reaches a log line."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are personal data or secrets. Any log event key matching one of these
# (exactly, or as a suffix such as "patient_phone") is dropped before rendering.
PII_KEYS = frozenset(
    {
        "phone",
        "mobile",
        "id_number",
        "id_card",
        "idcard",
        "name",
        "patient_name",
        "address",
        "password",
        "new_password",
        "code",
        "sms_code",
        "otp",
        "totp",
        "token",
        "secret",
        "pin",
        "email",
        "authorization",
        "cookie",
        "birth_date",
    }
)
_SAFE_KEYS = frozenset({"event", "level", "logger", "timestamp", "request_id", "error_code", "status_code"})


def drop_personal_data(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: remove every key that names personal data or a secret."""
    for key in list(event.keys()):
        if key in _SAFE_KEYS:
            continue
        lowered = key.lower()
        if lowered in PII_KEYS or any(lowered.endswith("_" + k) for k in PII_KEYS):
            event.pop(key)
    return event


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Route stdlib and structlog through one JSON renderer on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_personal_data,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, drop_personal_data, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # These libraries log full URLs, query strings included (an SMS provider's RPC API carries
    # phone numbers there). Our own request and outbound-call lines log the path only.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
