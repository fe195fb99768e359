"""Health endpoints, problem+json in both languages, request ids and security headers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ihis.app import create_app
from ihis.settings import Settings


def test_readyz_checks_redis_when_configured(settings: Settings, database, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings.model_copy(update={"redis_url": redis_url}), database=database)) as c:
        body = c.get("/readyz").json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_when_redis_is_down(settings: Settings, database) -> None:  # type: ignore[no-untyped-def]
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(broken, database=database)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "ok" and r.json()["checks"]["redis"].startswith("error")


def test_problem_json_speaks_chinese_by_default_and_english_on_request(client: TestClient) -> None:
    zh = client.post("/api/v1/auth/staff/login", json={})
    en = client.post("/api/v1/auth/staff/login", json={}, headers={"Accept-Language": "en-US,en;q=0.9"})
    for r in (zh, en):
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        fields = {e["field"] for e in r.json()["errors"]}
        assert {"body.username", "body.password"} <= fields
        assert r.json()["code"] == "invalid_input" and r.json()["request_id"]
    assert zh.json()["title"] == "输入有误" and en.json()["title"] == "Invalid input"
    assert "必填" in zh.json()["errors"][0]["message"]


def test_responses_carry_request_id_and_security_headers(client: TestClient) -> None:
    r = client.get("/healthz")
    assert len(r.headers["x-request-id"]) == 32
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in r.headers  # HTTPS-only headers in production


def test_production_adds_hsts(settings: Settings, database) -> None:  # type: ignore[no-untyped-def]
    from tests.platform.test_settings import GOOD

    prod = Settings(
        env="production",
        database_url=settings.database_url,
        run_worker_in_process=False,
        jobs_immediate=True,
        **GOOD,
    )
    with TestClient(create_app(prod, database=database)) as c:
        r = c.get("/healthz")
    assert r.headers["strict-transport-security"].startswith("max-age=63072000")


def test_unknown_method_is_problem_json(client: TestClient) -> None:
    r = client.delete("/healthz")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_extra_members_of_a_problem_never_replace_the_standard_ones() -> None:
    from ihis.platform.errors import Conflict

    body = Conflict("冲突", "Conflict", extra={"status": "paid", "code": "x", "version": 3}).problem("en")
    assert body["status"] == 409 and body["code"] == "conflict" and body["version"] == 3
