"""The outbound HTTP client of every integration adapter, and retries that are safe to make.

One ``httpx.Client`` per process (bound into the jobs runtime): explicit timeouts, a bounded
connection pool, an IHIS User-Agent, no redirects followed, and one log line per call that holds
the method, host, path, status and duration, never the query string, headers or body (they may
carry phone numbers, ID numbers or credentials; ARCHITECTURE principle 7).
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Collection
from email.utils import parsedate_to_datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import httpx
import structlog

from ihis.platform.clock import utcnow
from ihis.settings import Settings

log = structlog.get_logger("ihis.outbound")

CONNECT_TIMEOUT_SECONDS: Final = 5.0
READ_TIMEOUT_SECONDS: Final = 15.0
POOL_TIMEOUT_SECONDS: Final = 5.0
MAX_CONNECTIONS: Final = 50
MAX_KEEPALIVE: Final = 10
# Never sleep longer than this between attempts, whatever Retry-After says: callers are jobs
# with their own retry schedule (the outbox), not interactive loops.
MAX_BACKOFF_SECONDS: Final = 10.0
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"


def _user_agent() -> str:
    try:
        return f"IHIS/{version('ihis')}"
    except PackageNotFoundError:  # running from a source tree without installed metadata
        return "IHIS"


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~0.1 s; one verified context serves every client of the process.
    return httpx.create_ssl_context()


def outbound_client(settings: Settings, *, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The process's client for outside systems: timeouts, pool limits, User-Agent, safe logging.

    ``transport`` replaces the network (an ``httpx.MockTransport`` in adapter tests).
    """
    return httpx.Client(
        transport=transport,
        verify=_tls_context(),
        timeout=httpx.Timeout(
            READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS, pool=POOL_TIMEOUT_SECONDS
        ),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE),
        headers={"User-Agent": _user_agent()},
        follow_redirects=False,
        event_hooks={"request": [_stamp_request], "response": [_log_response]},
    )


def _stamp_request(request: httpx.Request) -> None:
    request.extensions["ihis_started"] = time.perf_counter()


def _log_response(response: httpx.Response) -> None:
    request = response.request
    started = request.extensions.get("ihis_started")
    ms = round((time.perf_counter() - started) * 1000, 1) if isinstance(started, float) else None
    # Host and path only: the query string may hold personal data or signatures.
    log.info(
        "outbound_request",
        method=request.method,
        host=request.url.host,
        path=request.url.path,
        status_code=response.status_code,
        ms=ms,
    )


def request_with_retries(
    client: httpx.Client,
    method: str,
    url: str | httpx.URL,
    *,
    attempts: int = 3,
    backoff: float = 0.2,
    retry_on: Collection[int] = (502, 503, 504),
    idempotent: bool = False,
    **kw: Any,
) -> httpx.Response:
    """Send, retrying transport errors and ``retry_on`` statuses with exponential backoff and jitter.

    Only for calls that are safe to repeat: GET/HEAD/OPTIONS/PUT/DELETE, a request carrying an
    ``Idempotency-Key`` header, or ``idempotent=True`` when the provider deduplicates by a key in
    the body (an order number). A POST that may act twice (send an SMS, charge a card) is refused.
    Returns the last response (the caller checks its status); re-raises the last transport error.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    verb = method.upper()
    headers = httpx.Headers(kw.get("headers"))
    if not (idempotent or verb in SAFE_METHODS or IDEMPOTENCY_HEADER in headers):
        raise ValueError(
            f"refusing to retry {verb}: not idempotent; send an {IDEMPOTENCY_HEADER} header or pass "
            "idempotent=True when the provider deduplicates by a key in the body"
        )
    for attempt in range(1, attempts + 1):
        last = attempt == attempts
        try:
            response = client.request(verb, url, **kw)
        except httpx.TransportError as exc:
            if last:
                raise
            log.warning(
                "outbound_retry", method=verb, host=_host(url), attempt=attempt, error=type(exc).__name__
            )
            time.sleep(_delay(backoff, attempt, None))
            continue
        if last or response.status_code not in retry_on:
            return response
        log.warning(
            "outbound_retry", method=verb, host=_host(url), attempt=attempt, status_code=response.status_code
        )
        retry_after = response.headers.get("Retry-After")
        response.close()
        time.sleep(_delay(backoff, attempt, retry_after))
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises


def _host(url: str | httpx.URL) -> str:
    return httpx.URL(url).host


def _delay(backoff: float, attempt: int, retry_after: str | None) -> float:
    """``backoff * 2**(attempt-1)`` with full jitter in [50%, 100%], or the server's Retry-After."""
    server = _parse_retry_after(retry_after)
    if server is not None:
        return min(MAX_BACKOFF_SECONDS, server)
    base: float = backoff * 2 ** (attempt - 1)
    return min(MAX_BACKOFF_SECONDS, base * random.uniform(0.5, 1.0))


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())
