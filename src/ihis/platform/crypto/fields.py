"""Field encryption. PARTIAL — being completed by the crypto helper (encryption, SM4, rotation)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from ihis.settings import Settings

_blind_key: bytes = b""


def configure(settings: Settings) -> None:
    global _blind_key
    _blind_key = settings.blind_index_key.get_secret_value().encode()


def blind_index(value: str, purpose: str) -> str:
    """Keyed hash for exact-match lookup of an encrypted field (normalised by the caller)."""
    return hmac.new(_blind_key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


class EncryptedString(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return value

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return value
