"""Crypto test helpers: run a block under other crypto settings, then restore the run's keyring.

with crypto_settings(settings, crypto_suite=CryptoSuite.GM):
    ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr

from ihis.platform.crypto import keyring
from ihis.settings import Settings

# Two 32-byte keys, base64 (32 x "A" and 32 x "B").
KEY_A = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
KEY_B = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="


@contextmanager
def crypto_settings(settings: Settings, **update: Any) -> Iterator[keyring.Keyring]:
    """Configure the process keyring from ``settings`` with ``update`` applied, for one block."""
    for name in ("field_keys", "blind_index_key"):
        if isinstance(update.get(name), str):
            update[name] = SecretStr(update[name])
    saved = keyring.current()
    try:
        yield keyring.configure(settings.model_copy(update=update))
    finally:
        keyring.install(saved)
