"""Canonical form of a signed document's payload, and its digest.

Canonical JSON (docs/signing.md §2), so that the same content always gives the same bytes:

- objects: keys are strings, NFC-normalised, sorted by Unicode code point, no duplicates after
  normalisation; arrays keep their order;
- strings: NFC-normalised (a composed and a decomposed "é" sign alike), written as UTF-8 without
  ``\\u`` escapes except the ones JSON requires;
- numbers: integers only (money in fen, DOMAIN §7); floats are refused, as is anything that is not
  JSON (dates are written by the caller as ISO 8601 strings);
- ``true``, ``false``, ``null``; no whitespace between tokens; no trailing newline.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from ihis.platform.crypto.suites import suite_named


class NotCanonicalisable(ValueError):
    """The payload holds something canonical JSON refuses; ``path`` names where (``$.items[2].price``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _normalised(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, float):
        raise NotCanonicalisable(path, "float (use integers, e.g. money in fen)")
    if isinstance(value, list | tuple):
        return [_normalised(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonicalisable(path, "object key is not a string")
            nkey = unicodedata.normalize("NFC", key)
            if nkey in out:
                raise NotCanonicalisable(f"{path}.{nkey}", "duplicate key after NFC normalisation")
            out[nkey] = _normalised(item, f"{path}.{nkey}")
        return out
    raise NotCanonicalisable(path, f"{type(value).__name__} is not JSON")


def canonical_bytes(payload: Any) -> bytes:
    """The canonical UTF-8 JSON of ``payload`` (raises ``NotCanonicalisable``)."""
    text = json.dumps(
        _normalised(payload, "$"), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def digest(hash_name: str, data: bytes) -> bytes:
    """SHA-256 (``intl``) or SM3 (``gm``) of ``data``."""
    return suite_named("intl" if hash_name == "sha256" else "gm").digest(data)


def hash_name_of_suite(suite: str) -> str:
    """The document hash of a crypto suite: ``sha256`` for ``intl``, ``sm3`` for ``gm``."""
    return suite_named(suite).hash_name
