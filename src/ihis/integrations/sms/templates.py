"""SMS templates (短信模板): the codes registered with the provider and their approved zh-CN text.

A provider only sends texts from templates it approved, addressed by template code with
``${name}`` placeholders filled from ``TemplateParam``. The sandbox provider renders the same
texts, so what the console shows is what a phone would receive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


class SmsTemplate(StrEnum):
    """What IHIS sends; the value is the template code registered with the provider."""

    REGISTER_CODE = "SMS_IHIS_REGISTER_CODE"
    LOGIN_CODE = "SMS_IHIS_LOGIN_CODE"
    RESET_CODE = "SMS_IHIS_RESET_CODE"
    QUALIFICATION_APPROVED = "SMS_IHIS_QUALIFICATION_APPROVED"
    QUALIFICATION_REJECTED = "SMS_IHIS_QUALIFICATION_REJECTED"
    NOTICE = "SMS_IHIS_NOTICE"


@dataclass(frozen=True)
class TemplateText:
    text: str

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER.findall(self.text))


TEMPLATES: dict[SmsTemplate, TemplateText] = {
    SmsTemplate.REGISTER_CODE: TemplateText(
        "您正在注册互联网医院账号，验证码为${code}，5分钟内有效。如非本人操作，请忽略本短信。"
    ),
    SmsTemplate.LOGIN_CODE: TemplateText(
        "您正在登录互联网医院，验证码为${code}，5分钟内有效。验证码请勿告知他人。"
    ),
    SmsTemplate.RESET_CODE: TemplateText(
        "您正在重置互联网医院账号密码，验证码为${code}，5分钟内有效。如非本人操作，请及时修改密码。"
    ),
    SmsTemplate.QUALIFICATION_APPROVED: TemplateText(
        "${name}您好，您提交的执业资质已审核通过，现可登录互联网医院工作站开展线上服务。"
    ),
    SmsTemplate.QUALIFICATION_REJECTED: TemplateText(
        "${name}您好，您提交的执业资质未通过审核，原因：${reason}。请修改后重新提交。"
    ),
    SmsTemplate.NOTICE: TemplateText("${content}"),
}

# Provider limit for one variable's value (Alibaba Cloud: 35 characters for most variable types).
MAX_VARIABLE_LENGTH = 35
# Free-text variables (a notice, a rejection reason) are registered as "other" variables with a
# longer limit.
LONG_VARIABLES = frozenset({"content", "reason"})
MAX_LONG_VARIABLE_LENGTH = 200


class TemplateParamsInvalid(ValueError):
    """The parameters do not fit the template (missing, unexpected or over-long variables)."""


def check_params(template: SmsTemplate, params: Mapping[str, str]) -> None:
    """Raise ``TemplateParamsInvalid`` unless ``params`` fills exactly the template's variables."""
    expected = TEMPLATES[template].variables
    given = frozenset(params)
    if given != expected:
        raise TemplateParamsInvalid(f"{template.value} needs {sorted(expected)}, got {sorted(given)}")
    for name, value in params.items():
        limit = MAX_LONG_VARIABLE_LENGTH if name in LONG_VARIABLES else MAX_VARIABLE_LENGTH
        if not isinstance(value, str) or not value or len(value) > limit:
            raise TemplateParamsInvalid(f"{template.value}: variable {name!r} must be 1..{limit} characters")


def render(template: SmsTemplate, params: Mapping[str, str]) -> str:
    """The text the recipient reads (without the 【signature】 prefix)."""
    return _PLACEHOLDER.sub(lambda m: params[m.group(1)], TEMPLATES[template].text)


def template_by_code(code: str) -> SmsTemplate | None:
    try:
        return SmsTemplate(code)
    except ValueError:
        return None
