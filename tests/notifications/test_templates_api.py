"""Templates admin API: operations edit versioned templates with checked variables."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.notifications.templates import Event
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_notifications import make_notification, make_operations
from tests.factories_org import audit_actions, problem_fields

URL = "/api/v1/admin/notification-templates"


def _body(**kw: Any) -> dict[str, Any]:
    return {
        "title": "预约成功通知",
        "body": "{patient_name}：已预约{doctor_name}医生，{start_time}就诊。",
        "sms_text": "{doctor_name}医生{start_time}复诊已预约成功。",
        **kw,
    }


def test_operations_list_every_event_with_its_variables(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    response = client.get(URL)
    assert response.status_code == 200, response.text
    templates = {t["event"]: t for t in response.json()}
    assert set(templates) == {e.value for e in Event}
    booking = templates["booking_confirmed"]
    assert booking["version"] == 0
    assert {"name": "start_time", "label": "开始时间", "required": True} in booking["variables"]
    assert {"name": "queue_number", "label": "排队号", "required": False} in booking["variables"]
    assert booking["default_title_en"] == "Booking confirmed"


def test_saving_a_template_keeps_history_is_audited_and_is_used_by_notify(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    first = client.put(f"{URL}/booking_confirmed", json=_body())
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    second = client.put(f"{URL}/booking_confirmed", json=_body(title="预约已确认", expected_version=1))
    assert second.status_code == 200, second.text
    detail = client.get(f"{URL}/booking_confirmed").json()
    assert detail["version"] == 2 and detail["title"] == "预约已确认"
    assert [v["version"] for v in detail["history"]] == [2, 1]
    assert audit_actions(db, "notification_template", "booking_confirmed") == [
        "notification.template.update",
        "notification.template.update",
    ]
    patient = make_patient(db, inst)
    notified = make_notification(db, patient, patient_name="赵六")
    from ihis.notifications.models import Message

    message = db.get(Message, notified.message_id)
    assert message is not None and message.title == "预约已确认" and message.template_version == 2
    assert message.body.startswith("赵六：已预约")


def test_an_unknown_variable_is_refused_naming_body_body(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    response = client.put(f"{URL}/booking_confirmed", json=_body(body="{doctor_name}{start_time}{id_number}"))
    assert response.status_code == 422
    assert problem_fields(response) == ["body.body"]
    assert response.json()["errors"][0]["code"] == "unknown_variable"
    assert client.get(f"{URL}/booking_confirmed").json()["version"] == 0


def test_a_missing_required_variable_is_refused_naming_body_body(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    response = client.put(f"{URL}/booking_confirmed", json=_body(body="{patient_name}预约成功"))
    assert response.status_code == 422
    assert problem_fields(response) == ["body.body"]
    assert response.json()["errors"][0]["code"] == "missing_variable"


def test_an_unknown_variable_in_the_title_is_refused_naming_body_title(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    response = client.put(f"{URL}/visit_reminder", json=_body(title="{phone}", body="{start_time}"))
    assert problem_fields(response) == ["body.title"]


def test_template_bad_input_names_the_field(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    assert problem_fields(client.put(f"{URL}/booking_confirmed", json=_body(title=""))) == ["body.title"]
    assert problem_fields(client.put(f"{URL}/booking_confirmed", json=_body(colour="red"))) == ["body.colour"]
    assert problem_fields(
        client.put(f"{URL}/booking_confirmed", json=_body(wechat_template_id="bad id!"))
    ) == ["body.wechat_template_id"]


def test_a_stale_save_answers_409(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    assert client.put(f"{URL}/bill_closed", json=_body(body="{item}", sms_text=None)).status_code == 200
    stale = client.put(f"{URL}/bill_closed", json=_body(body="{item}!", sms_text=None, expected_version=0))
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1


def test_an_unknown_event_is_not_found(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    assert client.get(f"{URL}/lottery_won").status_code == 404
    assert client.put(f"{URL}/lottery_won", json=_body()).status_code == 404
    assert client.post(f"{URL}/lottery_won/preview", json={}).status_code == 404


def test_templates_of_another_institution_are_separate(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, elsewhere = make_institution(db), make_institution(db)
    login_as(client, db, make_operations(db, elsewhere), settings)
    assert client.put(f"{URL}/booking_confirmed", json=_body(title="别院")).status_code == 200
    client.cookies.clear()
    login_as(client, db, make_operations(db, inst), settings)
    detail = client.get(f"{URL}/booking_confirmed").json()
    assert detail["version"] == 0 and detail["history"] == []


def test_preview_renders_sample_variables_a_draft_and_overrides(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    default = client.post(f"{URL}/visit_reminder/preview", json={})
    assert default.status_code == 200, default.text
    assert default.json()["title"] == "就诊提醒" and "{" not in default.json()["body"]
    draft = client.post(
        f"{URL}/visit_reminder/preview",
        json={
            "template": _body(title="提醒", body="{patient_name}{start_time}"),
            "variables": {"patient_name": "钱七"},
        },
    )
    assert draft.status_code == 200, draft.text
    assert draft.json()["body"] == "钱七2026-05-06 09:00"
    bad_draft = client.post(f"{URL}/visit_reminder/preview", json={"template": _body(body="{x}")})
    assert problem_fields(bad_draft) == ["body.template.body", "body.template.body"]
    bad_var = client.post(f"{URL}/visit_reminder/preview", json={"variables": {"salary": "1"}})
    assert problem_fields(bad_var) == ["body.variables.salary"]


def test_patients_and_doctors_may_not_manage_templates(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    for account in (make_patient(db, inst), make_staff(db, inst, roles=["doctor"])):
        client.cookies.clear()
        login_as(client, db, account, settings)
        assert client.get(URL).status_code == 403
        assert client.get(f"{URL}/booking_confirmed").status_code == 403
        assert client.put(f"{URL}/booking_confirmed", json=_body()).status_code == 403
        assert client.post(f"{URL}/booking_confirmed/preview", json={}).status_code == 403


def test_template_endpoints_require_a_session(anon: TestClient) -> None:
    assert anon.get(URL).status_code == 401
    assert anon.get(f"{URL}/booking_confirmed").status_code == 401
    assert anon.put(f"{URL}/booking_confirmed", json=_body()).status_code == 401
    assert anon.post(f"{URL}/booking_confirmed/preview", json={}).status_code == 401
