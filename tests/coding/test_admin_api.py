"""Administrators' code-table endpoints: upload an official table, list editions, make one current."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_coding import csv_bytes, make_edition, xlsx_bytes

IMPORT = "/api/v1/admin/codes/icd10/import"
EDITIONS = "/api/v1/admin/codes/icd10/editions"
TABLE = xlsx_bytes(
    ["疾病编码", "疾病名称"],
    [["I10.x00x002", "原发性高血压"], ["E11.900", "2型糖尿病"]],
    title="国家临床版2.0疾病诊断编码",
)


def _ops(client: TestClient, db: Session, settings: Settings, inst=None):  # type: ignore[no-untyped-def]
    inst = inst or make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    return inst


def _upload(client: TestClient, data: bytes, edition: str = "ICD-10 国临版 2.0", **form: str):  # type: ignore[no-untyped-def]
    name = "icd.xlsx" if data[:2] == b"PK" else "icd.csv"
    files = {"file": (name, data, "application/octet-stream")}
    return client.post(IMPORT, files=files, data={"edition": edition, **form})


def test_operations_import_a_table_and_make_it_current(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _ops(client, db, settings)
    response = _upload(client, TABLE, make_current="true")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["added"], body["updated"], body["unchanged"], body["disabled"]) == (2, 0, 0, 0)
    assert body["edition"]["is_current"] is True and body["edition"]["code_count"] == 2
    again = _upload(client, TABLE).json()
    assert (again["added"], again["unchanged"]) == (0, 2)
    listed = client.get(EDITIONS).json()
    assert [(e["name"], e["is_current"]) for e in listed] == [("ICD-10 国临版 2.0", True)]
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.institution_id == inst.id)))
    assert "codes.import" in actions


def test_a_bad_table_is_refused_row_by_row_and_nothing_is_imported(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _ops(client, db, settings)
    data = csv_bytes(
        ["编码", "名称"], [["I10.x00x002", "原发性高血压"], ["I10.X00X002", "重复"], ["E11.900", ""]]
    )
    response = _upload(client, data)
    assert response.status_code == 422
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["rows.3.code", "rows.4.name"]
    assert body["error_rows"] == [3, 4]
    assert client.get(EDITIONS).json() == []


def test_bad_form_fields_are_named(client: TestClient, db: Session, settings: Settings) -> None:
    _ops(client, db, settings)
    missing = client.post(IMPORT, files={"file": ("icd.xlsx", TABLE, "application/octet-stream")})
    assert missing.status_code == 422
    assert "body.edition" in [e["field"] for e in missing.json()["errors"]]
    blank = _upload(client, TABLE, edition="   ")
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "body.edition"
    no_file = client.post(IMPORT, data={"edition": "x"})
    assert no_file.status_code == 422 and "body.file" in [e["field"] for e in no_file.json()["errors"]]
    not_excel = client.post(
        IMPORT, files={"file": ("x.xlsx", b"not a zip", "application/octet-stream")}, data={"edition": "x"}
    )
    assert not_excel.status_code == 422 and not_excel.json()["errors"][0]["field"] == "file"


def test_make_current_switches_the_edition(client: TestClient, db: Session, settings: Settings) -> None:
    inst = _ops(client, db, settings)
    make_edition(db, inst, name="国临版")
    insurance = make_edition(db, inst, name="医保版", current=False)
    response = client.post(f"{EDITIONS}/{insurance.id}/make-current")
    assert response.status_code == 200 and response.json()["is_current"] is True
    assert [(e["name"], e["is_current"]) for e in client.get(EDITIONS).json()] == [
        ("医保版", True),
        ("国临版", False),
    ]
    wrong_system = client.post(f"/api/v1/admin/codes/tcm-disease/editions/{insurance.id}/make-current")
    assert wrong_system.status_code == 404
    audited = db.scalars(select(AuditEvent.resource_id).where(AuditEvent.action == "codes.make_current"))
    assert list(audited) == [str(insurance.id)]


def test_another_institutions_edition_is_not_found(
    client: TestClient, db: Session, settings: Settings
) -> None:
    theirs = make_edition(db, make_institution(db), current=False)
    _ops(client, db, settings)
    assert client.post(f"{EDITIONS}/{theirs.id}/make-current").status_code == 404
    assert client.get(EDITIONS).json() == []


def test_admin_code_endpoints_need_org_manage(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    edition = make_edition(db, inst, current=False)
    assert anon.get(EDITIONS).status_code == 401
    assert _upload(anon, TABLE).status_code == 401
    assert anon.post(f"{EDITIONS}/{edition.id}/make-current").status_code == 401
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    assert client.get(EDITIONS).status_code == 403
    assert _upload(client, TABLE).status_code == 403
    assert client.post(f"{EDITIONS}/{edition.id}/make-current").status_code == 403
