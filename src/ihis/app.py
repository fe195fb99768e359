"""``create_app(settings)``: the FastAPI application with middleware, routers and the web apps."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ihis.identity.passwords import configure_password_gate
from ihis.identity.shedding import PasswordWorkShedder
from ihis.integrations.http import outbound_client
from ihis.platform import crypto as crypto_setup
from ihis.platform import jobs
from ihis.platform.db import Database
from ihis.platform.errors import install_error_handlers
from ihis.platform.logging import configure_logging
from ihis.platform.process import tune_allocator
from ihis.settings import Settings, get_settings

log = structlog.get_logger("ihis.http")

API_PREFIX = "/api/v1"


class RequestContextMiddleware:
    """Request id (X-Request-ID in and out), one access log line, security headers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hsts = settings.is_production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [
                    (b"x-request-id", request_id.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if self.hsts:
                    extra.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if scope["type"] == "http" and not scope["path"].startswith(
                ("/assets", "/app/assets", "/console/assets")
            ):
                log.info(
                    "request",
                    method=scope.get("method"),
                    path=scope["path"],
                    status_code=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
            structlog.contextvars.unbind_contextvars("request_id")


def _include_routers(app: FastAPI, settings: Settings) -> None:
    from ihis.auditing.api import router as audit_router
    from ihis.billing.api import router as billing_router
    from ihis.coding.api import router as coding_router
    from ihis.consultation.api import router as consultation_router
    from ihis.consultation.records_api import router as records_router
    from ihis.drug_orders.api import router as drug_orders_router
    from ihis.drug_orders.pharmacy_api import router as drug_order_pharmacy_router
    from ihis.emr_templates.api import router as emr_templates_router
    from ihis.formulary.api import router as formulary_router
    from ihis.identity.auth_api import router as auth_router
    from ihis.identity.consent_api import router as consent_router
    from ihis.identity.patient_api import router as patient_router
    from ihis.identity.staff_api import router as staff_router
    from ihis.integrations.logistics.api import router as logistics_notify_router
    from ihis.medication_rules.api import router as rx_knowledge_router
    from ihis.messaging.api import router as messaging_router
    from ihis.notifications.api import router as notifications_router
    from ihis.organization.api import router as org_router
    from ihis.platform.health import router as health_router
    from ihis.prescribing.api import router as prescribing_router
    from ihis.prescribing.pdf_api import router as rx_pdf_router
    from ihis.prescribing.review_api import router as review_router
    from ihis.registration.api import router as registration_router
    from ihis.registration.eligibility_api import router as eligibility_router
    from ihis.scheduling.api import router as scheduling_router
    from ihis.signing.api import public_router as signing_public_router
    from ihis.signing.api import router as signing_router

    app.include_router(health_router)
    for router in (
        # First: the public slot search is the hottest path and FastAPI matches routes in order.
        scheduling_router,
        auth_router,
        patient_router,
        consent_router,
        staff_router,
        org_router,
        audit_router,
        notifications_router,
        eligibility_router,
        billing_router,
        registration_router,
        consultation_router,
        records_router,
        coding_router,
        emr_templates_router,
        signing_router,
        signing_public_router,
        messaging_router,
        prescribing_router,
        review_router,
        rx_pdf_router,
        rx_knowledge_router,
        formulary_router,
        drug_orders_router,
        drug_order_pharmacy_router,
        logistics_notify_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    if settings.sandbox:
        from ihis.integrations.sandbox_api import router as simulators_router
        from ihis.sandboxes.api import router as sandbox_console_router

        app.include_router(simulators_router)
        app.include_router(sandbox_console_router)


def _mount_web_apps(app: FastAPI, settings: Settings) -> None:
    """Serve the built SPAs (patient at /app, console at /console) with history fallback."""
    root = Path(settings.web_dist_dir)
    for name, mount in (("patient", "/app"), ("console", "/console")):
        dist = root / name / "dist"

        def spa(path: str = "", _dist: Path = dist, _name: str = name) -> Response:
            index = _dist / "index.html"
            if not index.exists():
                return Response(
                    f"web app '{_name}' is not built; run `make web`",
                    status_code=503,
                    media_type="text/plain",
                )
            candidate = (_dist / path).resolve()
            if path and candidate.is_file() and _dist.resolve() in candidate.parents:
                return FileResponse(candidate)
            return FileResponse(index, headers={"Cache-Control": "no-cache"})

        app.add_api_route(mount, spa, methods=["GET"], include_in_schema=False)
        app.add_api_route(mount + "/{path:path}", spa, methods=["GET"], include_in_schema=False)

    @app.get("/", include_in_schema=False)
    def root_redirect() -> RedirectResponse:
        return RedirectResponse("/app/")


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the application; tests pass their own settings and database."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    crypto_setup.configure(settings)
    tune_allocator()
    configure_password_gate(settings.password_work_concurrency, settings.password_work_queue)
    db = database or Database(settings)
    # Jobs and outbox handlers reach the database, settings and outside systems through this.
    # Bound here, not in the lifespan: tests rebind the HTTP client right after create_app.
    outbound = outbound_client(settings)
    jobs.bind_runtime(db, settings, outbound)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Always configure (API processes without the in-process consumer still enqueue).
        jobs.configure(settings)
        consumer = jobs.start_in_process_consumer(settings) if settings.run_worker_in_process else None
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop()
            outbound.close()
            if database is None:
                db.dispose()

    app = FastAPI(
        title="IHIS API",
        version="1.0",
        description="互联网医院信息系统 API. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    # Chat fan-out: in process, or through Redis pub/sub when IHIS_REDIS_URL is set.
    from ihis.messaging.hub import configure_hub

    configure_hub(settings)
    install_error_handlers(app)
    _include_routers(app, settings)
    _mount_web_apps(app, settings)
    app.add_middleware(PasswordWorkShedder, prefix=API_PREFIX)
    app.add_middleware(RequestContextMiddleware, settings=settings)
    return app


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The OpenAPI document (used to generate the web apps' typed client)."""
    # Fixed settings so the document (and the client generated from it) is the same on every
    # machine: development mode with the sandboxes, whose console endpoints the web apps use.
    from ihis.settings import Environment

    app = create_app(
        settings or Settings(env=Environment.DEVELOPMENT, sandbox=True, run_worker_in_process=False)
    )
    return app.openapi()
