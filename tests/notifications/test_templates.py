"""Template language and the event catalogue: variables checked on save, rendering."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from ihis.notifications.template_service import (
    TemplateDraft,
    TemplateView,
    current_template,
    default_draft,
    render_template,
    sample_variables,
    validate_draft,
)
from ihis.notifications.templates import SPECS, Event, VariablesMismatch, check_variables, placeholders
from ihis.platform.errors import InvalidInput


def _fields(exc: InvalidInput) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in exc.errors]


@pytest.mark.parametrize("event", list(Event))
def test_every_default_template_passes_its_own_checks_and_renders_completely(event: Event) -> None:
    draft = default_draft(SPECS[event])
    validate_draft(event, draft)
    rendered = render_template(_view(event), sample_variables(event))
    for text in (rendered.title, rendered.body, rendered.sms_text or "", *rendered.wechat_data.values()):
        assert "{" not in text and "}" not in text
    assert SPECS[event].required <= set(SPECS[event].allowed)
    assert SPECS[event].required <= placeholders(draft.body)


def _view(event: Event) -> TemplateView:
    return TemplateView(event, 0, default_draft(SPECS[event]))


def test_an_unknown_variable_is_refused_naming_the_field() -> None:
    draft = TemplateDraft("预约成功", "{doctor_name} {start_time} {diagnosis}", None, None)
    with pytest.raises(InvalidInput) as caught:
        validate_draft(Event.BOOKING_CONFIRMED, draft)
    assert _fields(caught.value) == [("body.body", "unknown_variable")]
    assert "diagnosis" in (caught.value.errors[0].message_en)


def test_a_missing_required_variable_is_refused_naming_the_field() -> None:
    draft = TemplateDraft("预约成功", "您已预约{doctor_name}医生", "{doctor_name}{start_time}", None)
    with pytest.raises(InvalidInput) as caught:
        validate_draft(Event.BOOKING_CONFIRMED, draft)
    assert _fields(caught.value) == [("body.body", "missing_variable")]
    assert "start_time" in caught.value.errors[0].message_zh


def test_title_sms_and_wechat_fields_are_checked_too() -> None:
    draft = TemplateDraft(
        "{secret}",
        "{doctor_name}{start_time}",
        "只有{doctor_name}",
        None,
        {"thing1": "{nope}", "BAD KEY": "x"},
    )
    without_mapping = TemplateDraft("标题", "{doctor_name}{start_time}", None, "tmpl-1", {})
    with pytest.raises(InvalidInput) as caught:
        validate_draft(Event.BOOKING_CONFIRMED, draft)
    assert _fields(caught.value) == [
        ("body.title", "unknown_variable"),
        ("body.sms_text", "missing_variable"),
        ("body.wechat_fields.thing1", "unknown_variable"),
        ("body.wechat_fields.BAD KEY", "invalid_key"),
    ]
    with pytest.raises(InvalidInput) as caught:
        validate_draft(Event.BOOKING_CONFIRMED, without_mapping)
    assert _fields(caught.value) == [("body.wechat_fields", "required")]


def test_stray_braces_and_over_long_sms_are_refused() -> None:
    draft = TemplateDraft(
        "标题", "{doctor_name}{start_time} {oops", "{doctor_name}{start_time}" + "字" * 200, None
    )
    with pytest.raises(InvalidInput) as caught:
        validate_draft(Event.BOOKING_CONFIRMED, draft)
    assert _fields(caught.value) == [("body.body", "malformed_placeholder"), ("body.sms_text", "too_long")]


def test_rendering_fills_every_placeholder() -> None:
    view = _view(Event.REFUND_PROGRESS)
    rendered = render_template(view, sample_variables(Event.REFUND_PROGRESS) | {"amount_yuan": "25.00"})
    assert rendered.title == "退款进度"
    assert "25.00元" in rendered.body and "1-3个工作日" in rendered.body
    assert rendered.sms_text is not None and "25.00" in rendered.sms_text
    assert rendered.wechat_data["amount2"] == "25.00"


def test_callers_must_pass_exactly_the_declared_variables() -> None:
    variables = sample_variables(Event.VISIT_REMINDER)
    check_variables(Event.VISIT_REMINDER, variables)
    with pytest.raises(VariablesMismatch):
        check_variables(Event.VISIT_REMINDER, {k: v for k, v in variables.items() if k != "start_time"})
    with pytest.raises(VariablesMismatch):
        check_variables(Event.VISIT_REMINDER, variables | {"id_number": "x"})


def test_without_a_saved_version_the_default_is_in_force(db: Session) -> None:
    from tests.factories import make_institution

    inst = make_institution(db)
    view = current_template(db, inst.id, Event.BILL_CLOSED)
    assert view.version == 0 and view.draft.title == SPECS[Event.BILL_CLOSED].title
