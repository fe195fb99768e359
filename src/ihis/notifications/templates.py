"""The events IHIS notifies about: their variables, default zh-CN texts, and the template language.

Placeholders are ``{variable}``. Every event declares the variables its callers always pass
(``allowed``); a template may use any of them and must use the ``required`` ones, so a saved text
can never ask for a value that is not there, nor leave out the fact the message exists to tell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ihis.platform.errors import FieldError

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
WECHAT_FIELD_KEY = re.compile(r"^[a-z][a-z_]{0,19}[0-9]{0,2}$")
# SMS notices go out as the provider-approved generic template (``SmsTemplate.NOTICE``), whose
# one variable is limited to 200 characters (integrations/sms/templates.py).
SMS_MAX_LENGTH = 200
# WeChat template message values: keep them short; the platform truncates long "thing" values.
WECHAT_VALUE_MAX_LENGTH = 200


class Event(StrEnum):
    BOOKING_CONFIRMED = "booking_confirmed"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    BILL_CLOSED = "bill_closed"
    REFUND_PROGRESS = "refund_progress"
    VISIT_REMINDER = "visit_reminder"
    SESSION_STOPPED = "session_stopped"
    SESSION_SUBSTITUTED = "session_substituted"
    SESSION_SHIFTED = "session_shifted"
    DOCTOR_SHIFT_REMINDER = "doctor_shift_reminder"
    SESSION_ASSIGNED = "session_assigned"
    PATIENT_WAITING = "patient_waiting"
    CONSULTATION_REJECTED = "consultation_rejected"
    CONSULTATION_STOPPED = "consultation_stopped"
    RECORD_SIGNED = "record_signed"
    CHAT_MESSAGE = "chat_message"
    PRESCRIPTION_APPROVED = "prescription_approved"
    PRESCRIPTION_REJECTED = "prescription_rejected"
    REVIEW_UNSTAFFED = "review_unstaffed"
    DRUG_ORDER_PROGRESS = "drug_order_progress"
    MEDICATION_REMINDER = "medication_reminder"
    RENEWAL_REMINDER = "renewal_reminder"


@dataclass(frozen=True)
class EventSpec:
    """What an event carries and what it says when operations have not edited it."""

    event: Event
    label: str
    allowed: tuple[str, ...]
    required: frozenset[str]
    title: str
    body: str
    sms_text: str | None
    title_en: str
    body_en: str
    # WeChat template-message field mapping (keys as registered in the official account).
    wechat_fields: dict[str, str] = field(default_factory=dict)


VARIABLE_LABELS: dict[str, str] = {
    "patient_name": "就诊人姓名",
    "doctor_name": "医生姓名",
    "new_doctor_name": "替诊医生姓名",
    "department": "科室",
    "start_time": "开始时间",
    "old_start_time": "原开始时间",
    "end_time": "结束时间",
    "service_mode": "服务方式",
    "queue_number": "排队号",
    "amount_yuan": "金额（元）",
    "item": "项目",
    "refund_status": "退款进度",
    "refund_channel": "退款渠道",
    "refund_arrival": "预计到账",
    "booked_count": "已预约人数",
    "reason": "原因",
    "advice": "医生建议",
    "version": "版本",
    "sender_name": "发送人",
    "number": "处方编号",
    "pharmacist_name": "药师姓名",
    "since": "开始时间",
    "order_status": "订单进度",
    "drug_names": "药品",
}

_VISIT = ("patient_name", "doctor_name", "department", "start_time", "service_mode")
_SHIFT = ("doctor_name", "department", "start_time", "end_time", "service_mode")

SPECS: dict[Event, EventSpec] = {
    s.event: s
    for s in (
        EventSpec(
            Event.BOOKING_CONFIRMED,
            "预约成功",
            (*_VISIT, "queue_number"),
            frozenset({"doctor_name", "start_time"}),
            "预约成功",
            "{patient_name}，您已成功预约{department}{doctor_name}医生的{service_mode}复诊，"
            "时间{start_time}，排队号{queue_number}。",
            "{patient_name}，您已成功预约{department}{doctor_name}医生{start_time}的{service_mode}复诊，"
            "排队号{queue_number}。",
            "Booking confirmed",
            "{patient_name}, your {service_mode} follow-up with Dr {doctor_name} ({department}) at "
            "{start_time} is confirmed; queue number {queue_number}.",
            {"thing1": "{patient_name}", "thing2": "{doctor_name}", "time3": "{start_time}"},
        ),
        EventSpec(
            Event.PAYMENT_SUCCEEDED,
            "支付成功",
            ("patient_name", "item", "amount_yuan"),
            frozenset({"amount_yuan"}),
            "支付成功",
            "{patient_name}，您的{item}已支付成功，金额{amount_yuan}元。",
            None,
            "Payment succeeded",
            "{patient_name}, your payment for {item} of {amount_yuan} yuan succeeded.",
            {"thing1": "{item}", "amount2": "{amount_yuan}"},
        ),
        EventSpec(
            Event.BILL_CLOSED,
            "订单已关闭",
            ("patient_name", "item", "amount_yuan"),
            frozenset({"item"}),
            "订单已关闭",
            "{patient_name}，您的{item}订单（{amount_yuan}元）因超时未支付已关闭，号源已释放。",
            None,
            "Bill closed",
            "{patient_name}, your unpaid bill for {item} ({amount_yuan} yuan) has been closed.",
        ),
        EventSpec(
            Event.REFUND_PROGRESS,
            "退款进度",
            ("patient_name", "item", "amount_yuan", "refund_status", "refund_channel", "refund_arrival"),
            frozenset({"amount_yuan", "refund_status"}),
            "退款进度",
            "{patient_name}，您的{item}退款{amount_yuan}元{refund_status}，将原路退回{refund_channel}，"
            "预计{refund_arrival}到账。",
            "{patient_name}，您的{item}退款{amount_yuan}元{refund_status}，预计{refund_arrival}到账。",
            "Refund progress",
            "{patient_name}, your refund of {amount_yuan} yuan for {item} is {refund_status}; expected "
            "back in {refund_channel} by {refund_arrival}.",
            {"thing1": "{item}", "amount2": "{amount_yuan}", "phrase3": "{refund_status}"},
        ),
        EventSpec(
            Event.VISIT_REMINDER,
            "就诊提醒",
            _VISIT,
            frozenset({"start_time"}),
            "就诊提醒",
            "{patient_name}，您预约的{department}{doctor_name}医生{service_mode}复诊将于{start_time}开始，"
            "请提前进入候诊。",
            "{patient_name}，您预约的{department}{doctor_name}医生复诊将于{start_time}开始，请准时候诊。",
            "Visit reminder",
            "{patient_name}, your {service_mode} follow-up with Dr {doctor_name} ({department}) starts at "
            "{start_time}.",
            {"thing1": "{patient_name}", "thing2": "{doctor_name}", "time3": "{start_time}"},
        ),
        EventSpec(
            Event.SESSION_STOPPED,
            "医生停诊",
            (*_VISIT, "amount_yuan"),
            frozenset({"doctor_name", "start_time"}),
            "医生停诊通知",
            "{patient_name}，很抱歉，{department}{doctor_name}医生{start_time}的出诊已停诊，"
            "您的预约已取消，{amount_yuan}元将原路退回。",
            "{patient_name}，{department}{doctor_name}医生{start_time}停诊，您的预约已取消，"
            "{amount_yuan}元将原路退回。",
            "Session stopped",
            "{patient_name}, Dr {doctor_name}'s session at {start_time} was cancelled; your booking is "
            "cancelled and {amount_yuan} yuan will be refunded.",
        ),
        EventSpec(
            Event.SESSION_SUBSTITUTED,
            "医生替诊",
            (*_VISIT, "new_doctor_name"),
            frozenset({"new_doctor_name", "start_time"}),
            "医生替诊通知",
            "{patient_name}，{department}{doctor_name}医生{start_time}的出诊改由{new_doctor_name}医生接诊。"
            "如不同意，可在就诊开始前免费取消。",
            "{patient_name}，{start_time}的复诊改由{new_doctor_name}医生接诊，如不同意可免费取消。",
            "Doctor substituted",
            "{patient_name}, Dr {new_doctor_name} will see you at {start_time} instead of Dr "
            "{doctor_name}; you may cancel free of charge.",
        ),
        EventSpec(
            Event.SESSION_SHIFTED,
            "就诊时间调整",
            (*_VISIT, "old_start_time"),
            frozenset({"start_time"}),
            "就诊时间调整",
            "{patient_name}，{department}{doctor_name}医生的出诊时间由{old_start_time}调整为{start_time}。"
            "如不方便，可在就诊开始前免费取消。",
            "{patient_name}，您预约的{doctor_name}医生复诊时间调整为{start_time}，如不方便可免费取消。",
            "Visit time changed",
            "{patient_name}, Dr {doctor_name}'s session moved from {old_start_time} to {start_time}; you may "
            "cancel free of charge.",
        ),
        EventSpec(
            Event.DOCTOR_SHIFT_REMINDER,
            "出诊提醒",
            (*_SHIFT, "booked_count"),
            frozenset({"start_time"}),
            "出诊提醒",
            "{doctor_name}医生，您在{department}的{service_mode}出诊将于{start_time}开始（至{end_time}），"
            "已预约{booked_count}人。",
            "{doctor_name}医生，您{start_time}的线上出诊即将开始，已预约{booked_count}人。",
            "Shift reminder",
            "Dr {doctor_name}, your {service_mode} session ({department}) starts at {start_time} until "
            "{end_time}; {booked_count} booked.",
        ),
        EventSpec(
            Event.SESSION_ASSIGNED,
            "排班通知",
            _SHIFT,
            frozenset({"start_time"}),
            "新的出诊安排",
            "{doctor_name}医生，您已被安排在{department}{start_time}至{end_time}出诊（{service_mode}）。",
            None,
            "New session assigned",
            "Dr {doctor_name}, you are scheduled for a {service_mode} session ({department}) from "
            "{start_time} to {end_time}.",
        ),
        EventSpec(
            Event.PATIENT_WAITING,
            "新患者候诊",
            ("doctor_name", "patient_name", "queue_number", "start_time"),
            frozenset({"queue_number"}),
            "新患者候诊",
            "{doctor_name}医生，{patient_name}（{queue_number}号）已在候诊，出诊时间{start_time}。",
            None,
            "New patient waiting",
            "Dr {doctor_name}, {patient_name} (number {queue_number}) is waiting; session at {start_time}.",
        ),
        EventSpec(
            Event.CONSULTATION_REJECTED,
            "非复诊退号",
            (*_VISIT, "reason", "amount_yuan"),
            frozenset({"reason"}),
            "医生未接诊",
            "{patient_name}，{department}{doctor_name}医生未接诊您{start_time}的线上复诊，原因：{reason}。"
            "挂号费{amount_yuan}元将原路退回，请到医院线下就诊。",
            "{patient_name}，{doctor_name}医生未接诊您的线上复诊（{reason}），"
            "挂号费{amount_yuan}元将原路退回，请线下就诊。",
            "Consultation declined",
            "{patient_name}, Dr {doctor_name} did not take your online follow-up at {start_time}: {reason}. "
            "The fee of {amount_yuan} yuan will be refunded; please visit the hospital in person.",
        ),
        EventSpec(
            Event.CONSULTATION_STOPPED,
            "中止复诊",
            (*_VISIT, "reason", "advice", "amount_yuan"),
            frozenset({"reason", "advice"}),
            "医生中止了线上复诊",
            "{patient_name}，{doctor_name}医生中止了本次线上复诊，原因：{reason}。医生建议：{advice}。"
            "请尽快到医院线下就诊，挂号费{amount_yuan}元将原路退回。",
            "{patient_name}，{doctor_name}医生中止了线上复诊（{reason}），建议：{advice}。"
            "请尽快线下就诊，费用原路退回。",
            "Consultation stopped",
            "{patient_name}, Dr {doctor_name} stopped the online consultation: {reason}. Advice: {advice}. "
            "Please see a doctor in person soon; the fee of {amount_yuan} yuan will be refunded.",
        ),
        EventSpec(
            Event.RECORD_SIGNED,
            "病历已签署",
            ("patient_name", "doctor_name", "department", "version"),
            frozenset({"doctor_name"}),
            "门诊病历已生成",
            "{patient_name}，{department}{doctor_name}医生已签署您的门诊病历（第{version}版），"
            "可在“我的病历”查看和下载。",
            None,
            "Medical record signed",
            "{patient_name}, Dr {doctor_name} ({department}) signed your outpatient record "
            "(version {version}); read or download it under My records.",
        ),
        # Delayed mode (留言, issue 4 §2): the text never travels in the notice (health data stays
        # in the app); one notice per batch of unread messages (messaging/delivery.py).
        EventSpec(
            Event.CHAT_MESSAGE,
            "新留言",
            ("sender_name",),
            frozenset({"sender_name"}),
            "您有新的留言",
            "{sender_name}给您发来了新消息，请在问诊页面查看。",
            "{sender_name}给您发来了新消息，请登录互联网医院查看。",
            "New message",
            "{sender_name} sent you a new message; open the consultation to read it.",
        ),
        EventSpec(
            Event.PRESCRIPTION_APPROVED,
            "处方审核通过",
            ("patient_name", "doctor_name", "number"),
            frozenset({"number"}),
            "处方已审核通过",
            "{patient_name}，{doctor_name}医生为您开具的处方（{number}）已经药师审核通过，"
            "请在“我的处方”确认药品、选择取药方式并支付。",
            "您的处方{number}已审核通过，请登录互联网医院确认并支付。",
            "Prescription approved",
            "{patient_name}, the prescription {number} from Dr {doctor_name} was approved by the pharmacist; "
            "confirm it, choose pickup or delivery and pay under My prescriptions.",
        ),
        EventSpec(
            Event.PRESCRIPTION_REJECTED,
            "处方被药师驳回",
            ("number", "pharmacist_name", "reason", "patient_name"),
            frozenset({"number", "reason"}),
            "处方被驳回",
            "处方 {number}（{patient_name}）被药师{pharmacist_name}驳回：{reason}。请修改后重新提交或作废。",
            None,
            "Prescription rejected",
            "Prescription {number} ({patient_name}) was rejected by pharmacist {pharmacist_name}: {reason}. "
            "Revise and submit it again, or withdraw it.",
        ),
        EventSpec(
            Event.REVIEW_UNSTAFFED,
            "无药师在岗",
            ("since",),
            frozenset({"since"}),
            "审方无人在岗",
            "工作时间内自 {since} 起没有药师在岗审方，待审处方无法处理，请安排药师签到。",
            None,
            "No pharmacist on duty",
            "No pharmacist has been on duty for prescription review since {since} during business hours; "
            "prescriptions are waiting. Please have a pharmacist check in.",
        ),
        EventSpec(
            Event.DRUG_ORDER_PROGRESS,
            "药品订单进度",
            ("patient_name", "number", "order_status"),
            frozenset({"number", "order_status"}),
            "药品订单进度",
            "{patient_name}，您的处方{number}的药品{order_status}。取药码请在“我的药品订单”中查看，签收时出示。",
            "您的处方{number}的药品{order_status}，请登录互联网医院查看。",
            "Drug order update",
            "{patient_name}, the drugs of prescription {number}: {order_status}. Your pickup code is under "
            "My drug orders; show it when you sign for them.",
        ),
        EventSpec(
            Event.MEDICATION_REMINDER,
            "用药提醒",
            ("patient_name", "number", "drug_names"),
            frozenset({"drug_names"}),
            "用药提醒",
            "{patient_name}，请按医嘱按时服用{drug_names}（处方{number}），如有不适请及时就医或上报不良反应。",
            None,
            "Medication reminder",
            "{patient_name}, please keep taking {drug_names} as prescribed (prescription {number}); report "
            "any adverse reaction.",
        ),
        EventSpec(
            Event.RENEWAL_REMINDER,
            "续方提醒",
            ("patient_name", "number", "drug_names"),
            frozenset({"number"}),
            "续方提醒",
            "{patient_name}，处方{number}中的{drug_names}即将用完，如需继续用药请预约复诊续方。",
            "您的处方{number}的药品即将用完，如需续方请预约复诊。",
            "Renewal reminder",
            "{patient_name}, the {drug_names} of prescription {number} will run out soon; book a follow-up "
            "to renew it.",
        ),
    )
}


def placeholders(text: str) -> set[str]:
    """The variable names a text uses."""
    return set(PLACEHOLDER.findall(text))


def check_text(spec: EventSpec, text: str, field_name: str, *, require: bool) -> list[FieldError]:
    """Errors of one template text: unknown placeholders, stray braces, missing required ones."""
    errors: list[FieldError] = []
    used = placeholders(text)
    unknown = sorted(used - set(spec.allowed))
    if unknown:
        names = ", ".join(unknown)
        errors.append(
            FieldError(
                field_name,
                "unknown_variable",
                f"不支持的变量：{names}；可用变量：{', '.join(spec.allowed)}",
                f"Unknown variable(s): {names}; allowed: {', '.join(spec.allowed)}",
            )
        )
    if "{" in PLACEHOLDER.sub("", text) or "}" in PLACEHOLDER.sub("", text):
        errors.append(
            FieldError(
                field_name, "malformed_placeholder", "变量格式应为 {变量名}", "Placeholders look like {name}"
            )
        )
    missing = sorted(spec.required - used) if require else []
    if missing:
        names = ", ".join(missing)
        errors.append(
            FieldError(
                field_name,
                "missing_variable",
                f"缺少必需的变量：{names}",
                f"Required variable(s) missing: {names}",
            )
        )
    return errors


def render(text: str, variables: Mapping[str, str]) -> str:
    """Fill the placeholders (every one must be in ``variables``: checked on save and on notify)."""
    return PLACEHOLDER.sub(lambda m: variables[m.group(1)], text)


class VariablesMismatch(ValueError):
    """A caller passed variables that do not match the event's declaration (a programming error)."""


def check_variables(event: Event, variables: Mapping[str, str]) -> None:
    """Callers pass exactly the event's declared variables, each a non-empty string."""
    spec = SPECS[event]
    given, expected = set(variables), set(spec.allowed)
    if given != expected:
        raise VariablesMismatch(
            f"{event.value}: missing {sorted(expected - given)}, unexpected {sorted(given - expected)}"
        )
    for name, value in variables.items():
        if not isinstance(value, str):
            raise VariablesMismatch(f"{event.value}: variable {name!r} must be a string")
