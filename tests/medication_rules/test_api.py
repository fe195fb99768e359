"""The knowledge-base maintenance API: readers with FORMULARY_READ, writers with RX_KNOWLEDGE_MANAGE."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution, make_patient, make_staff

INTERACTION = {
    "a": "warfarin",
    "b": "aspirin",
    "severity": "warn",
    "note_zh": "出血风险",
    "note_en": "bleeding",
}


@pytest.fixture
def inst(db: Session) -> Institution:
    return make_institution(db)


@pytest.fixture
def keeper(client: TestClient, db: Session, inst: Institution, settings: Settings) -> TestClient:
    login_as(client, db, make_staff(db, inst, roles=["senior_pharmacist"]), settings)
    return client


def _create(
    client: TestClient, kind: str = "interaction", data: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = client.post("/api/v1/rx-knowledge/entries", json={"kind": kind, "data": data or INTERACTION})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_senior_pharmacist_adds_an_entry_and_the_version_moves(keeper: TestClient, db: Session) -> None:
    assert keeper.get("/api/v1/rx-knowledge").json()["version"] == 0
    entry = _create(keeper)
    assert entry["kind"] == "interaction" and entry["data"]["a"] == "warfarin" and entry["revision"] == 1
    summary = keeper.get("/api/v1/rx-knowledge").json()
    assert summary["version"] == 1 and summary["counts"]["interaction"] == 1
    assert keeper.get(f"/api/v1/rx-knowledge/entries/{entry['id']}").json()["data"] == entry["data"]
    assert [e["id"] for e in keeper.get("/api/v1/rx-knowledge/entries?kind=interaction").json()] == [
        entry["id"]
    ]
    assert keeper.get("/api/v1/rx-knowledge/entries?kind=indication").json() == []
    audited = db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("rx_knowledge.%"))).all()
    assert audited == ["rx_knowledge.create"]


def test_update_keeps_the_entry_id_and_refuses_a_stale_revision(keeper: TestClient) -> None:
    entry = _create(keeper)
    url = f"/api/v1/rx-knowledge/entries/{entry['id']}"
    updated = keeper.put(url, json={"data": {**INTERACTION, "severity": "block"}, "revision": 1})
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == entry["id"] and updated.json()["revision"] == 2
    stale = keeper.put(url, json={"data": INTERACTION, "revision": 1})
    assert stale.status_code == 409 and _fields(stale) == ["body.revision"]


def test_delete_retires_the_entry_and_records_the_version(keeper: TestClient) -> None:
    entry = _create(keeper)
    url = f"/api/v1/rx-knowledge/entries/{entry['id']}"
    assert keeper.delete(url, params={"revision": 1}).status_code == 204
    assert keeper.get(url).status_code == 404
    versions = keeper.get("/api/v1/rx-knowledge/versions").json()
    assert [(v["version"], v["action"]) for v in versions] == [(2, "delete"), (1, "create")]


def test_bad_entry_data_names_the_field(keeper: TestClient) -> None:
    response = keeper.post(
        "/api/v1/rx-knowledge/entries",
        json={"kind": "interaction", "data": {**INTERACTION, "severity": "fatal"}},
    )
    assert response.status_code == 422 and _fields(response) == ["body.data.severity"]
    missing = keeper.post(
        "/api/v1/rx-knowledge/entries", json={"kind": "dose_range", "data": {"ingredient": "x"}}
    )
    assert missing.status_code == 422 and "body.data.unit" in _fields(missing)
    band = {
        "ingredient": "amoxicillin",
        "unit": "mg",
        "min_age_months": 72,
        "max_age_months": 36,
        "max_daily": "1",
    }
    inverted = keeper.post("/api/v1/rx-knowledge/entries", json={"kind": "dose_range", "data": band})
    assert inverted.status_code == 422 and _fields(inverted) == ["body.data.max_age_months"]


def test_unknown_kind_names_the_field(keeper: TestClient) -> None:
    response = keeper.post("/api/v1/rx-knowledge/entries", json={"kind": "gossip", "data": {}})
    assert response.status_code == 422 and _fields(response) == ["body.kind"]


def test_duplicate_entry_conflicts(keeper: TestClient) -> None:
    _create(keeper)
    response = keeper.post(
        "/api/v1/rx-knowledge/entries",
        json={"kind": "interaction", "data": {**INTERACTION, "a": "aspirin", "b": "warfarin"}},
    )
    assert response.status_code == 409 and _fields(response) == ["body.data"]


def test_export_and_import_round_trip(keeper: TestClient) -> None:
    _create(keeper)
    _create(keeper, "indication", {"code": "ccb", "icd10": ["I10-I15"]})
    exported = keeper.get("/api/v1/rx-knowledge/export").json()
    assert exported["format"] == "ihis-rx-knowledge/1" and len(exported["entries"]) == 2
    imported = keeper.post("/api/v1/rx-knowledge/import", json=exported)
    assert imported.status_code == 200 and imported.json() == {"version": 3, "entries": 2}
    assert len(keeper.get("/api/v1/rx-knowledge/entries").json()) == 2


def test_import_names_the_bad_entry_and_changes_nothing(keeper: TestClient) -> None:
    _create(keeper)
    bad = {
        "format": "ihis-rx-knowledge/1",
        "entries": [{"kind": "indication", "data": {"code": "ccb", "icd10": ["I10-I15"]}},
                    {"kind": "indication", "data": {"code": "arb", "icd10": ["hypertension"]}}],
    }  # fmt: skip
    response = keeper.post("/api/v1/rx-knowledge/import", json=bad)
    assert response.status_code == 422 and _fields(response) == ["body.entries.1.data.icd10.0"]
    assert keeper.get("/api/v1/rx-knowledge").json()["version"] == 1


def test_doctor_reads_but_cannot_write(
    client: TestClient, db: Session, inst: Institution, settings: Settings
) -> None:
    keeper = make_staff(db, inst, roles=["senior_pharmacist"])
    login_as(client, db, keeper, settings)
    entry = _create(client)
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    assert client.get("/api/v1/rx-knowledge/entries").status_code == 200
    url = f"/api/v1/rx-knowledge/entries/{entry['id']}"
    assert (
        client.post(
            "/api/v1/rx-knowledge/entries", json={"kind": "interaction", "data": INTERACTION}
        ).status_code
        == 403
    )
    assert client.put(url, json={"data": INTERACTION, "revision": 1}).status_code == 403
    assert client.delete(url, params={"revision": 1}).status_code == 403
    assert (
        client.post(
            "/api/v1/rx-knowledge/import", json={"format": "ihis-rx-knowledge/1", "entries": []}
        ).status_code
        == 403
    )


def test_patient_cannot_read_the_knowledge_base(
    client: TestClient, db: Session, inst: Institution, settings: Settings
) -> None:
    login_as(client, db, make_patient(db, inst), settings)
    assert client.get("/api/v1/rx-knowledge").status_code == 403
    assert client.get("/api/v1/rx-knowledge/entries").status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/rx-knowledge"),
        ("GET", "/api/v1/rx-knowledge/entries"),
        ("POST", "/api/v1/rx-knowledge/entries"),
        ("GET", "/api/v1/rx-knowledge/entries/1"),
        ("PUT", "/api/v1/rx-knowledge/entries/1"),
        ("DELETE", "/api/v1/rx-knowledge/entries/1?revision=1"),
        ("GET", "/api/v1/rx-knowledge/versions"),
        ("GET", "/api/v1/rx-knowledge/export"),
        ("POST", "/api/v1/rx-knowledge/import"),
    ],
)
def test_anonymous_caller_is_refused(anon: TestClient, method: str, path: str) -> None:
    assert anon.request(method, path, json={}).status_code == 401


def test_entries_of_another_institution_are_not_found(
    client: TestClient, db: Session, inst: Institution, settings: Settings
) -> None:
    login_as(client, db, make_staff(db, inst, roles=["senior_pharmacist"]), settings)
    entry = _create(client)
    login_as(client, db, make_staff(db, make_institution(db), roles=["senior_pharmacist"]), settings)
    url = f"/api/v1/rx-knowledge/entries/{entry['id']}"
    assert client.get(url).status_code == 404
    assert client.put(url, json={"data": INTERACTION, "revision": 1}).status_code == 404
    assert client.delete(url, params={"revision": 1}).status_code == 404
    assert client.get("/api/v1/rx-knowledge/entries").json() == []
    assert client.get("/api/v1/rx-knowledge/export").json()["entries"] == []
