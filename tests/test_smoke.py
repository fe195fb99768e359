from fastapi.testclient import TestClient


def test_healthz_answers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["checks"]["database"] == "ok"


def test_unknown_path_is_problem_json(client: TestClient) -> None:
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"


def test_login_as_gives_a_live_session(client: TestClient, db, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import login_as, make_institution, make_staff

    inst = make_institution(db)
    staff = make_staff(db, inst, roles=["it_admin"])
    login_as(client, db, staff, settings)
    # no endpoint yet exposes "whoami"; the session row exists and is live
    from sqlalchemy import select

    from ihis.identity.models import AuthSession
    from ihis.identity.sessions import authenticate_request  # noqa: F401  (import check)

    assert db.scalar(select(AuthSession).where(AuthSession.user_id == staff.id)) is not None
