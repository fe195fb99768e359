"""ICE servers for WebRTC: STUN as configured, TURN with time-limited credentials.

TURN uses coturn's REST API shared-secret scheme (``use-auth-secret``): the username is
``<expiry unix time>:<account id>`` and the password ``base64(HMAC-SHA1(secret, username))``; coturn
recomputes it and refuses it after the expiry, so no per-user TURN account exists anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from ihis.messaging.config import ChatConfig


def turn_credentials(
    secret: str, account_id: int, ttl_seconds: int, now: float | None = None
) -> tuple[str, str]:
    """(username, credential) valid for ``ttl_seconds`` from ``now``."""
    expiry = int((now if now is not None else time.time()) + ttl_seconds)
    username = f"{expiry}:{account_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()  # coturn's scheme
    return username, base64.b64encode(digest).decode()


def ice_servers(config: ChatConfig, account_id: int) -> dict[str, Any]:
    """The ``RTCConfiguration.iceServers`` list for one account, with its TTL."""
    servers: list[dict[str, Any]] = []
    if config.stun_urls:
        servers.append({"urls": list(config.stun_urls)})
    if config.turn_urls and config.turn_secret:
        username, credential = turn_credentials(config.turn_secret, account_id, config.turn_ttl_seconds)
        servers.append({"urls": list(config.turn_urls), "username": username, "credential": credential})
    return {"ice_servers": servers, "ttl_seconds": config.turn_ttl_seconds}
