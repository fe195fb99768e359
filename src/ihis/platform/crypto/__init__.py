"""Cryptography per suite (``intl`` or ``gm`` 国密): field encryption, blind indexes, hashing.

``configure(settings)`` loads the keys once per process; then ``digest_hex`` hashes with the suite's
hash, ``fields.EncryptedString`` encrypts columns and ``fields.blind_index`` indexes them.
"""

from __future__ import annotations

from ihis.platform.crypto.keyring import CryptoConfigError, digest_hex
from ihis.platform.crypto.suites import CryptoError
from ihis.settings import Settings

__all__ = ["CryptoConfigError", "CryptoError", "configure", "digest_hex"]


def configure(settings: Settings) -> None:
    """Load keys for this process (called by create_app and the CLI); refuses unusable settings."""
    from ihis.platform.crypto import keyring

    keyring.configure(settings)
