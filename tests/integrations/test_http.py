"""The outbound HTTP client and its retry helper, against a local httpx.MockTransport."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from structlog.testing import capture_logs

from ihis.integrations import http as outbound
from ihis.integrations.http import outbound_client, request_with_retries
from ihis.settings import Settings

URL = "https://his.example.test/api/patients"


class Upstream:
    """A scripted upstream: each call pops the next answer (a status code or an exception)."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        headers = {"Retry-After": "2"} if answer == 429 else {}
        return httpx.Response(answer, json={"ok": answer < 400}, headers=headers)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Record the backoff instead of sleeping it."""
    recorded: list[float] = []
    monkeypatch.setattr(outbound.time, "sleep", recorded.append)
    yield recorded


def _client(settings: Settings, upstream: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return outbound_client(settings, transport=httpx.MockTransport(upstream))


def test_gateway_errors_are_retried_until_success(settings: Settings, sleeps: list[float]) -> None:
    upstream = Upstream(503, 502, 200)
    response = request_with_retries(_client(settings, upstream), "GET", URL)
    assert response.status_code == 200
    assert len(upstream.requests) == 3


def test_backoff_is_exponential_with_jitter(settings: Settings, sleeps: list[float]) -> None:
    upstream = Upstream(504, 504, 504, 200)
    request_with_retries(_client(settings, upstream), "GET", URL, attempts=4, backoff=0.2)
    assert len(sleeps) == 3
    for n, delay in enumerate(sleeps):
        full = 0.2 * 2**n
        assert full * 0.5 <= delay <= full


def test_jitter_spreads_clients_that_fail_together(settings: Settings, sleeps: list[float]) -> None:
    for _ in range(20):
        request_with_retries(_client(settings, Upstream(503, 200)), "GET", URL, backoff=1.0)
    assert len(set(sleeps)) > 1


def test_last_response_is_returned_when_attempts_run_out(settings: Settings, sleeps: list[float]) -> None:
    upstream = Upstream(503, 503, 503)
    response = request_with_retries(_client(settings, upstream), "GET", URL)
    assert response.status_code == 503
    assert len(upstream.requests) == 3
    assert len(sleeps) == 2, "no sleep after the last attempt"


def test_transport_errors_are_retried_and_the_last_one_is_raised(
    settings: Settings, sleeps: list[float]
) -> None:
    upstream = Upstream(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 200)
    assert request_with_retries(_client(settings, upstream), "GET", URL).status_code == 200

    failing = Upstream(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    with pytest.raises(httpx.ConnectError):
        request_with_retries(_client(settings, failing), "GET", URL, attempts=2)
    assert len(failing.requests) == 2


@pytest.mark.parametrize("status", [400, 404, 409, 500])
def test_statuses_not_listed_are_returned_at_once(
    settings: Settings, sleeps: list[float], status: int
) -> None:
    upstream = Upstream(status)
    assert request_with_retries(_client(settings, upstream), "GET", URL).status_code == status
    assert sleeps == []


def test_retry_on_chooses_the_statuses(settings: Settings, sleeps: list[float]) -> None:
    upstream = Upstream(500, 200)
    assert request_with_retries(_client(settings, upstream), "GET", URL, retry_on={500}).status_code == 200


def test_retry_after_from_the_server_is_honoured_and_capped(settings: Settings, sleeps: list[float]) -> None:
    upstream = Upstream(429, 200)
    request_with_retries(_client(settings, upstream), "GET", URL, retry_on=(429,))
    assert sleeps == [2.0]
    assert outbound._delay(0.2, 1, "3600") == outbound.MAX_BACKOFF_SECONDS


def test_a_post_that_could_act_twice_is_refused_before_anything_is_sent(
    settings: Settings, sleeps: list[float]
) -> None:
    upstream = Upstream(200)
    with pytest.raises(ValueError, match="not idempotent"):
        request_with_retries(_client(settings, upstream), "POST", URL, json={"text": "your code"})
    assert upstream.requests == []


def test_a_post_with_an_idempotency_key_is_retried_with_the_same_key(
    settings: Settings, sleeps: list[float]
) -> None:
    upstream = Upstream(503, 201)
    response = request_with_retries(
        _client(settings, upstream), "POST", URL, json={"n": 1}, headers={"Idempotency-Key": "bill-7"}
    )
    assert response.status_code == 201
    assert [r.headers["Idempotency-Key"] for r in upstream.requests] == ["bill-7", "bill-7"]


def test_a_post_the_provider_deduplicates_may_be_declared_idempotent(
    settings: Settings, sleeps: list[float]
) -> None:
    upstream = Upstream(502, 200)
    response = request_with_retries(
        _client(settings, upstream), "POST", URL, json={"out_trade_no": "B7"}, idempotent=True
    )
    assert response.status_code == 200
    assert len(upstream.requests) == 2


def test_outbound_client_has_timeouts_limits_and_an_ihis_user_agent(settings: Settings) -> None:
    client = outbound_client(settings)
    assert client.timeout.connect == outbound.CONNECT_TIMEOUT_SECONDS
    assert client.timeout.read == outbound.READ_TIMEOUT_SECONDS
    assert client.timeout.pool == outbound.POOL_TIMEOUT_SECONDS
    assert client.headers["User-Agent"].startswith("IHIS")
    assert client.follow_redirects is False
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == outbound.MAX_CONNECTIONS
    client.close()


def test_outbound_calls_are_logged_without_query_headers_or_body(settings: Settings) -> None:
    upstream = Upstream(200)
    client = _client(settings, upstream)
    with capture_logs() as logs:
        client.post(
            "https://sms.example.test/send?mobile=13800138000&sign=abc",
            json={"mobile": "13800138000", "text": "验证码 123456"},
            headers={"Authorization": "Bearer secret-token"},
        )
    [line] = [entry for entry in logs if entry["event"] == "outbound_request"]
    assert line["host"] == "sms.example.test"
    assert line["path"] == "/send"
    assert line["status_code"] == 200
    assert isinstance(line["ms"], float)
    text = repr(logs)
    for secret in ("13800138000", "123456", "secret-token", "sign=abc"):
        assert secret not in text
