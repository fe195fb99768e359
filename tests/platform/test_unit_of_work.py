"""The request's unit of work commits once, before the response; errors roll everything back."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ihis.platform.errors import Conflict, install_error_handlers
from ihis.platform.http import Db
from ihis.tenancy.models import Institution


def _app(database) -> FastAPI:  # type: ignore[no-untyped-def]
    app = FastAPI()
    app.state.db = database
    install_error_handlers(app)

    @app.post("/ok")
    def ok(db: Db) -> dict[str, str]:
        db.add(Institution(code="UOW-OK", name="ok"))
        return {"status": "created"}

    @app.post("/fails-at-commit")
    def fails_at_commit(db: Db) -> dict[str, str]:
        # Two rows with one unique code: the error surfaces only when the unit of work flushes
        # at commit, after the endpoint returned.
        db.add(Institution(code="UOW-DUP", name="a"))
        db.add(Institution(code="UOW-DUP", name="b"))
        return {"status": "created"}

    @app.post("/raises")
    def raises(db: Db) -> dict[str, str]:
        db.add(Institution(code="UOW-RAISE", name="x"))
        db.flush()
        raise Conflict("冲突", "conflict")

    return app


def test_successful_request_commits(database, db) -> None:  # type: ignore[no-untyped-def]
    with TestClient(_app(database)) as c:
        assert c.post("/ok").status_code == 200
    assert db.scalar(select(Institution).where(Institution.code == "UOW-OK")) is not None


def test_a_failed_commit_is_never_reported_as_success(database, db) -> None:  # type: ignore[no-untyped-def]
    with TestClient(_app(database), raise_server_exceptions=False) as c:
        r = c.post("/fails-at-commit")
    assert r.status_code >= 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert db.scalar(select(Institution).where(Institution.code == "UOW-DUP")) is None


def test_an_error_rolls_back_what_the_request_flushed(database, db) -> None:  # type: ignore[no-untyped-def]
    with TestClient(_app(database)) as c:
        r = c.post("/raises")
    assert r.status_code == 409
    assert db.scalar(select(Institution).where(Institution.code == "UOW-RAISE")) is None
