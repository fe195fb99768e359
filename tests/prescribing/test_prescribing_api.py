"""The doctor prescribes inside the consultation: a draft is checked on every save, blocks stop
submission, warnings need a reason, submission is signed with the PIN; recall before review, withdraw."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.models import Visitor
from ihis.platform.clock import local_today
from ihis.prescribing.models import Prescription
from ihis.settings import Settings
from ihis.signing.models import SignedDocument
from tests.factories import login_as
from tests.factories_org import problem_fields
from tests.factories_prescribing import WS, line, new_draft, rx_world, save, submit


def _codes(rx: dict[str, object], severity: str) -> set[str]:
    return {f["code"] for f in rx["findings"] if f["severity"] == severity}  # type: ignore[attr-defined,index]


def test_a_warning_needs_the_doctors_reason_and_submission_signs_the_prescription(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    rx = new_draft(client, w)
    assert rx["status"] == "draft" and rx["number"].startswith(f"CF{local_today():%Y%m%d}")
    # Warfarin with aspirin: a known interaction (bleeding) -> a warning, not a block.
    rx = save(
        client,
        rx,
        lines=[line(w, "D015", dose="2.5"), line(w, "D013", dose="100")],
        diagnoses=[{"system": "icd10", "code": "I10.x00x002"}],
    )
    warnings = [f for f in rx["findings"] if f["severity"] == "warn"]
    assert warnings and not _codes(rx, "block"), rx["findings"]
    assert rx["total_fen"] == sum(x["amount_fen"] for x in rx["lines"]) > 0

    refused = submit(client, rx)
    assert refused.status_code == 422
    assert {f"findings.{f['key']}" for f in warnings} <= set(problem_fields(refused))
    db.expire_all()
    assert db.scalar(select(Prescription.status).where(Prescription.id == rx["id"])) == "draft"

    bad_pin = submit(
        client,
        rx,
        overrides=[{"key": f["key"], "reason": "长期联用，定期监测 INR"} for f in warnings],
        pin="000000",
    )
    assert bad_pin.status_code == 422 and problem_fields(bad_pin) == ["body.pin"]

    done = submit(
        client, rx, overrides=[{"key": f["key"], "reason": "长期联用，定期监测 INR"} for f in warnings]
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "pending_review" and body["signed_version"] == 1
    assert all(
        f["override_reason"] == "长期联用，定期监测 INR" for f in body["findings"] if f["severity"] == "warn"
    )
    assert body["valid_until"] == local_today().isoformat()  # valid the day it is issued
    assert [e["kind"] for e in body["timeline"]][-1] == "submitted"
    db.expire_all()
    doc = db.get(SignedDocument, body["signed_document_id"])
    assert (
        doc is not None and doc.kind == "rx" and '"override_reason":"长期联用，定期监测 INR"' in doc.content
    )
    # Submitted: no more edits until recalled.
    assert client.put(f"{WS}/prescriptions/{rx['id']}", json={"version": body["version"]}).status_code == 409


def test_blocks_stop_submission_six_drugs_a_controlled_drug_and_no_stock(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    rx = new_draft(client, w)
    six = [line(w, c) for c in ("D001", "D003", "D006", "D008", "D011", "D019")]
    rx = save(client, rx, lines=six)
    assert "too_many_drugs" in _codes(rx, "block") or any(
        f["field"] == "lines" and f["severity"] == "block" for f in rx["findings"]
    ), rx["findings"]
    assert submit(client, rx).status_code == 422

    rx = save(client, rx, lines=[line(w, "C002", dose="5")])  # diazepam: psychotropic II, never online
    blocks = [f for f in rx["findings"] if f["severity"] == "block"]
    assert blocks and blocks[0]["field"].startswith("lines.0"), rx["findings"]
    refused = submit(client, rx)
    assert refused.status_code == 422 and any(p.startswith("lines.0") for p in problem_fields(refused))

    rx = save(client, rx, lines=[line(w, "D016", dose="0.125")])  # digoxin: no stock anywhere
    assert "out_of_stock" in _codes(rx, "block")
    assert any(f["field"] == "lines.0.quantity" for f in rx["findings"] if f["code"] == "out_of_stock")


def test_bad_input_names_the_field_and_nothing_is_written(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    rx = new_draft(client, w)
    bad = save(client, rx, expect=422, lines=[line(w, "D001", dose="abc", frequency="zz", route="xx")])
    assert {"body.lines.0.dose", "body.lines.0.frequency", "body.lines.0.route"} <= {
        e["field"] for e in bad["errors"]
    }
    assert save(client, rx, expect=422, validity_days=4)["errors"][0]["field"] == "body.validity_days"
    unknown = save(client, rx, expect=422, lines=[line(w, "D001") | {"drug_id": 999999}])
    assert unknown["errors"][0]["field"] == "body.lines.0.drug_id"
    herbal = save(
        client, rx, expect=422, lines=[line(w, "H001", dose="15", dose_unit="g", route="decoction")]
    )
    assert herbal["errors"][0]["code"] == "kind_mismatch"
    db.expire_all()
    assert (
        db.scalar(select(Prescription.total_fen).where(Prescription.id == rx["id"])) == 0
    )  # nothing written
    saved = save(client, rx, lines=[line(w, "D001")])
    assert saved["lines"][0]["drug_code"] == "D001"
    assert save(client, rx, expect=409)["status"] == 409  # the version read first is stale now


def test_a_child_under_six_needs_a_guardian_and_the_accompanying_clinician(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    today = local_today()
    db.execute(
        update(Visitor)
        .where(Visitor.id == w.who.visitor.id)
        .values(birth_date=today.replace(year=today.year - 4))
    )
    db.commit()
    rx = new_draft(client, w)
    rx = save(client, rx, lines=[line(w, "D024", dose="125", frequency="tid", days=5)])
    assert {"guardian_required", "accompanying_clinician_required"} <= _codes(rx, "block")
    rx = save(
        client,
        rx,
        lines=[line(w, "D024", dose="125", frequency="tid", days=5)],
        guardian_name="王妈妈",
        guardian_relation="母亲",
        accompanying_clinician="李护士",
    )
    assert not {"guardian_required", "accompanying_clinician_required"} & _codes(rx, "block")


def test_recall_before_review_then_withdraw(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    rx = save(client, new_draft(client, w), lines=[line(w, "D001")])
    assert submit(client, rx).status_code == 200
    url = f"{WS}/prescriptions/{rx['id']}"
    assert problem_fields(client.post(f"{url}/recall", json={"reason": ""})) == ["body.reason"]
    back = client.post(f"{url}/recall", json={"reason": "剂量需调整"})
    assert back.status_code == 200 and back.json()["status"] == "draft"
    assert client.post(f"{url}/recall", json={"reason": "再次撤回"}).status_code == 409
    gone = client.post(f"{url}/withdraw", json={"reason": "患者改为线下就诊"})
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    assert [e["kind"] for e in gone.json()["timeline"]][-3:] == ["submitted", "recalled", "withdrawn"]


def test_renewal_copies_an_approved_prescription_of_the_same_patient(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    rx = save(
        client,
        new_draft(client, w),
        lines=[line(w, "D001"), line(w, "D011", dose="20", frequency="qn")],
        diagnoses=[{"system": "icd10", "code": "I10.x00x002"}, {"system": "icd10", "code": "I25.900"}],
    )
    first = submit(client, rx)
    assert first.status_code == 200, first.text
    refused = client.post(
        f"{WS}/consultations/{w.consultation['id']}/prescriptions", json={"renew_from": rx["id"]}
    )
    assert refused.status_code == 422 and problem_fields(refused) == ["body.renew_from"]  # not approved yet
    db.execute(
        update(Prescription)
        .where(Prescription.id == rx["id"])
        .values(status="approved", review_document_id=1)
    )
    db.commit()
    renewed = new_draft(client, w, renew_from=rx["id"])
    assert renewed["renewed_from_id"] == rx["id"] and renewed["number"] != rx["number"]
    assert [x["drug_code"] for x in renewed["lines"]] == ["D001", "D011"]
    listed = client.get(f"{WS}/consultations/{w.consultation['id']}/renewable").json()
    assert [p["id"] for p in listed] == [rx["id"]]


def test_who_may_prescribe(client: TestClient, anon: TestClient, db: Session, settings: Settings) -> None:
    from tests.factories import make_staff
    from tests.factories_scheduling import make_scheduling_doctor

    w = rx_world(client, anon, db, settings)
    rx = save(client, new_draft(client, w), lines=[line(w, "D001")])
    url = f"{WS}/prescriptions/{rx['id']}"
    create = f"{WS}/consultations/{w.consultation['id']}/prescriptions"
    assert anon.get(url).status_code == 401 and anon.post(create, json={}).status_code == 401
    login_as(client, db, make_staff(db, w.world.inst, roles=("pharmacist",)), settings)
    assert client.post(create, json={}).status_code == 403  # a pharmacist cannot prescribe
    assert client.get(url).status_code == 403
    colleague = make_scheduling_doctor(db, w.world.inst, w.world.dept)
    db.commit()
    login_as(client, db, db.get(type(w.doctor), colleague.user_id), settings)  # type: ignore[arg-type]
    assert client.post(create, json={}).status_code == 404  # not their consultation
    assert client.get(url).status_code == 404
    login_as(client, db, w.who.account, settings)
    assert client.get(url).status_code == 403
    assert client.get(f"/api/v1/me/prescriptions/{rx['id']}").status_code == 404  # a draft is the doctor's


def test_the_prescriber_searches_by_pinyin_sees_stock_and_never_online_drugs_flagged(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    url = f"{WS}/rx/drugs"
    [hit] = [h for h in client.get(url, params={"q": "AMXLJN"}).json() if h["code"] == "D017"]  # 阿莫西林胶囊
    assert hit["never_online"] is False and hit["stock"] and hit["stock"][0]["available"] > 0
    [diazepam] = client.get(url, params={"q": "地西泮"}).json()
    assert diazepam["never_online"] is True and diazepam["online"] is False
    [digoxin] = client.get(url, params={"q": "D016"}).json()
    assert max(s["available"] for s in digoxin["stock"]) == 0
    assert problem_fields(client.get(url, params={"q": ""})) == ["query.q"]
    assert anon.get(url, params={"q": "阿"}).status_code == 401
    login_as(client, db, w.who.account, settings)
    assert client.get(url, params={"q": "阿"}).status_code == 403


def test_templates_only_fill_a_draft_personal_and_department(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    from tests.factories_scheduling import make_scheduling_doctor

    w = rx_world(client, anon, db, settings)
    url = f"{WS}/rx-templates"
    lines = [line(w, "D001"), line(w, "D011", dose="20", frequency="qn")]
    mine = client.post(url, json={"name": "高血压基础方", "lines": lines})
    assert mine.status_code == 201, mine.text
    shared = client.post(
        url, json={"name": "科室降压方", "lines": lines[:1], "department_id": w.world.dept.id}
    )
    assert shared.status_code == 201 and shared.json()["scope"] == "department"
    bad = client.post(url, json={"name": "饮片混入", "lines": [line(w, "H001", dose="15", dose_unit="g")]})
    assert bad.status_code == 422 and problem_fields(bad) == ["body.lines.0.drug_id"]
    assert problem_fields(client.post(url, json={"name": " ", "lines": lines})) == ["body.name"]
    assert {t["name"] for t in client.get(url).json()} == {"高血压基础方", "科室降压方"}
    # A colleague of the department sees the department's, not the personal one.
    colleague = make_scheduling_doctor(db, w.world.inst, w.world.dept)
    db.commit()
    login_as(client, db, db.get(type(w.doctor), colleague.user_id), settings)  # type: ignore[arg-type]
    assert [t["name"] for t in client.get(url).json()] == ["科室降压方"]
    assert client.delete(f"{url}/{mine.json()['id']}").status_code == 404
    login_as(client, db, w.who.account, settings)
    assert client.get(url).status_code == 403
    assert anon.get(url).status_code == 401
