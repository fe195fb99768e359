"""The admission gate: requests queue for a database place in the event loop; one that waits past the
timeout gets 503 with Retry-After, and nothing it would have written exists."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from ihis.platform.errors import install_error_handlers
from ihis.platform.http import Db, ReadDb, get_gate
from ihis.tenancy.models import Institution


def _app(database) -> FastAPI:  # type: ignore[no-untyped-def]
    app = FastAPI()
    app.state.db = database
    install_error_handlers(app)

    @app.post("/write")
    def write(db: Db) -> dict[str, str]:
        db.add(Institution(code="GATE-W", name="w"))
        return {"status": "created"}

    @app.get("/read")
    def read(db: ReadDb) -> dict[str, int]:
        return {"institutions": len(db.scalars(select(Institution.id)).all())}

    return app


def test_a_writer_waiting_past_the_timeout_gets_503_and_readers_still_pass(database, db) -> None:  # type: ignore[no-untyped-def]
    database.settings = database.settings.model_copy(update={"db_admission_timeout_seconds": 0.3})
    app = _app(database)

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = await client.get("/read")  # creates this loop's gate
            gate = get_gate_for(app)
            held = 0
            while gate.writers.value > 0:  # other writers hold every place
                await gate.writers.acquire()
                held += 1
            try:
                blocked = await client.post("/write")
                reader = await client.get("/read")
            finally:
                for _ in range(held):
                    gate.writers.release()
            assert first.status_code == 200
            return blocked, reader, await client.post("/write")

    blocked, reader, later = asyncio.run(scenario())
    assert blocked.status_code == 503 and blocked.headers["retry-after"] == "1"
    assert blocked.json()["code"] == "server_busy"
    assert reader.status_code == 200
    assert later.status_code == 200
    db.expire_all()
    assert len(db.scalars(select(Institution).where(Institution.code == "GATE-W")).all()) == 1


def get_gate_for(app: FastAPI):  # type: ignore[no-untyped-def]
    """The gate of the running loop, as the dependency finds it."""

    class _Request:
        def __init__(self) -> None:
            self.app = app

    return get_gate(_Request())  # type: ignore[arg-type]
