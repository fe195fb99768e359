"""Cryptography: field encryption, blind indexes, hashing per suite (intl or gm)."""

from __future__ import annotations

from ihis.settings import Settings


def configure(settings: Settings) -> None:
    """Load keys for this process (called by create_app and the CLI)."""
    from ihis.platform.crypto import fields

    configure_fields = getattr(fields, "configure", None)
    if configure_fields is not None:
        configure_fields(settings)
