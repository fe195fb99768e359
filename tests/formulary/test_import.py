"""Drug import from xlsx/csv: a row-by-row report, nothing proposed unless every row is clean, one
pending batch that a senior pharmacist approves; never-online classes only offline."""

from __future__ import annotations

import csv
import io
import zipfile

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy.orm import Session

from ihis.formulary.import_service import COLUMNS
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_formulary import make_drug
from tests.factories_org import problem_fields

API = "/api/v1/formulary"
HEADER = [f"{label} {key}" for key, label, _, _ in COLUMNS]


def row(**overrides: str) -> list[str]:
    values = {
        "code": "M001",
        "generic_name": "盐酸二甲双胍片",
        "trade_name": "格华止",
        "kind": "西药",
        "form": "片剂",
        "strength": "500mg",
        "dose_unit": "mg",
        "unit_amount": "500",
        "dispense_unit": "片",
        "pack_size": "20",
        "package_unit": "盒",
        "approval_number": "国药准字H20023370",
        "manufacturer": "中美上海施贵宝制药有限公司",
        "batch": "AB1234",
        "expiry": "2027-06-30",
        "price_yuan": "16.20",
        "insurance_code": "XA10BAE001A001010100001",
        "control_class": "",
        "high_alert": "否",
        "monitoring": "",
        "ingredients": "metformin",
        "classes": "biguanide",
        "routes": "po",
        "instructions": "【适应症】2型糖尿病。",
        "online": "",
    }
    values.update(overrides)
    return [values[key] for key, _, _, _ in COLUMNS]


def as_csv(*rows: list[str], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def as_xlsx(*rows: list[str]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for r in rows:
        sheet.append(r)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(client: TestClient, data: bytes, name: str = "drugs.csv") -> object:
    return client.post(
        f"{API}/imports",
        files={"file": (name, data, "application/octet-stream")},
        data={"reason": "新增目录"},
    )


def test_clean_file_becomes_one_pending_batch_that_is_approved_together(
    client: TestClient, other: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    data = as_xlsx(
        row(),
        row(
            code="M002",
            generic_name="吗啡缓释片",
            control_class="narcotic",
            ingredients="morphine",
            classes="opioid",
        ),
    )
    r = client.post(f"{API}/imports", files={"file": ("drugs.xlsx", data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["proposals"] == 2
    assert client.get(f"{API}/drugs").json()["total"] == 0  # nothing published yet
    pending = client.get(f"{API}/proposals", params={"batch_ref": batch["batch_ref"], "status": "pending"})
    assert pending.json()["total"] == 2

    login_as(other, db, make_staff(db, inst, roles=["senior_pharmacist"]), settings)
    r = other.post(f"{API}/proposal-batches/{batch['batch_ref']}/approve", json={"note": "核对无误"})
    assert r.status_code == 200 and r.json()["approved"] == 2
    drugs = {d["code"]: d for d in client.get(f"{API}/drugs").json()["items"]}
    assert drugs["M001"]["price_fen"] == 1620 and drugs["M001"]["online"] is True
    assert drugs["M002"]["online"] is False and drugs["M002"]["never_online"] is True
    assert other.post(f"{API}/proposal-batches/{batch['batch_ref']}/approve", json={}).status_code == 404


def test_every_bad_cell_is_reported_by_row_and_column_and_nothing_is_proposed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_drug(db, inst, code="TAKEN")
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    data = as_csv(
        row(),
        row(code="M002", price_yuan="12.345", insurance_code="X1"),
        row(code="M003", control_class="psychotropic_1", online="是"),
        row(code="M001"),
        row(code="TAKEN"),
        row(code="M006", routes="mouth", high_alert="maybe"),
    )
    r = upload(client, data)
    assert r.status_code == 422
    assert problem_fields(r) == [
        "rows.3.price_yuan",
        "rows.3.insurance_code",
        "rows.4.online",
        "rows.5.code",
        "rows.6.code",
        "rows.7.high_alert",
        "rows.7.routes",
    ]
    body = r.json()
    assert body["error_rows"] == [3, 4, 5, 6, 7] and body["row_count"] == 6
    assert next(e for e in body["errors"] if e["field"] == "rows.4.online")["code"] == "never_online"
    assert client.get(f"{API}/proposals").json()["total"] == 0


def test_file_level_problems_name_the_file(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    for data, name, code in [
        (b"", "drugs.csv", "file_empty"),
        (as_csv(header=HEADER), "drugs.csv", "file_empty"),
        (as_csv(row(), header=["药品编码 code"]), "drugs.csv", "column_missing"),
        (b"not a workbook", "drugs.xlsx", "file_unreadable"),
    ]:
        r = upload(client, data, name)
        assert r.status_code == 422, (name, r.text)
        assert problem_fields(r) == ["file"] and r.json()["errors"][0]["code"] == code


def test_zip_bomb_is_refused_before_it_is_unpacked(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (60 * 1024 * 1024))
    r = upload(client, buffer.getvalue(), "bomb.xlsx")
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "file_too_large"


def test_oversized_upload_is_413(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    r = upload(client, b"x" * (settings.max_upload_bytes + 1))
    assert r.status_code == 413


def test_template_lists_every_column(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    r = client.get(f"{API}/import-template")
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert [c.value for c in sheet[1]] == HEADER


def test_import_needs_the_propose_permission(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    assert upload(anon, as_csv(row())).status_code == 401
    assert anon.get(f"{API}/import-template").status_code == 401
    login_as(client, db, make_staff(db, inst, roles=["senior_pharmacist"]), settings)
    assert upload(client, as_csv(row())).status_code == 403
    assert client.get(f"{API}/import-template").status_code == 403
    assert client.post(f"{API}/proposal-batches/imp-x/approve", json={}).status_code == 404


def test_codes_of_another_institution_do_not_clash(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, other = make_institution(db), make_institution(db)
    make_drug(db, other, code="M001")
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    assert upload(client, as_csv(row())).status_code == 201
