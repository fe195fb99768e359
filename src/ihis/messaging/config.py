"""Messaging settings in one place (read from ``Settings``; defaults until the fields exist there)."""

from __future__ import annotations

from dataclasses import dataclass

from ihis.settings import Settings


@dataclass(frozen=True)
class ChatConfig:
    image_max_bytes: int
    voice_max_bytes: int
    voice_max_seconds: int
    heartbeat_seconds: float
    idle_timeout_seconds: float
    allowed_origins: tuple[str, ...]
    stun_urls: tuple[str, ...]
    turn_urls: tuple[str, ...]
    turn_secret: str | None
    turn_ttl_seconds: int


def _csv(value: object) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(value or "").split(",") if part.strip())


def chat_config(settings: Settings) -> ChatConfig:
    """The chat settings (``IHIS_CHAT_*``, ``IHIS_WEBRTC_*``; see docs/chat.md for each)."""
    secret = settings.webrtc_turn_secret.get_secret_value() if settings.webrtc_turn_secret else None
    return ChatConfig(
        image_max_bytes=settings.chat_image_max_bytes,
        voice_max_bytes=settings.chat_voice_max_bytes,
        voice_max_seconds=settings.chat_voice_max_seconds,
        heartbeat_seconds=settings.chat_heartbeat_seconds,
        idle_timeout_seconds=settings.chat_idle_timeout_seconds,
        allowed_origins=_csv(settings.chat_allowed_origins),
        stun_urls=_csv(settings.webrtc_stun_urls),
        turn_urls=_csv(settings.webrtc_turn_urls),
        turn_secret=secret or None,
        turn_ttl_seconds=settings.webrtc_turn_ttl_seconds,
    )
