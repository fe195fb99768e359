"""One error model: ``IhisError`` subclasses rendered as RFC 9457 problem+json in zh-CN or English.

Services raise these; ``install_error_handlers`` renders them. A subclass fixes a stable ``code``
and HTTP ``status``; each raise may add a detail and the fields at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ihis.platform.i18n import language_of

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    """One bad field: a dotted path (``body.phone``), a stable code and a message."""

    field: str
    code: str
    message_zh: str
    message_en: str

    def render(self, lang: str) -> dict[str, str]:
        return {
            "field": self.field,
            "code": self.code,
            "message": self.message_en if lang == "en" else self.message_zh,
        }


class IhisError(Exception):
    """Base of every error a service may raise on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title_zh: ClassVar[str] = "服务器内部错误"
    title_en: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail_zh: str | None = None,
        detail_en: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail_zh = detail_zh
        self.detail_en = detail_en if detail_en is not None else detail_zh
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail_en or self.title_en)

    def problem(
        self, lang: str, instance: str | None = None, request_id: str | None = None
    ) -> dict[str, Any]:
        title = self.title_en if lang == "en" else self.title_zh
        detail = (self.detail_en if lang == "en" else self.detail_zh) or title
        body: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": title,
            "status": self.status,
            "detail": detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if request_id:
            body["request_id"] = request_id
        if self.errors:
            body["errors"] = [e.render(lang) for e in self.errors]
        # Extra members never replace the standard ones (RFC 9457: ``status`` is the HTTP status).
        body.update({k: v for k, v in self.extra.items() if k not in body})
        return body


class BadRequest(IhisError):
    code = "bad_request"
    status = 400
    title_zh = "请求有误"
    title_en = "Bad request"


class InvalidInput(IhisError):
    """Input that parsed but breaks a rule; names each bad field."""

    code = "invalid_input"
    status = 422
    title_zh = "输入有误"
    title_en = "Invalid input"

    @classmethod
    def field(cls, field: str, code: str, message_zh: str, message_en: str) -> InvalidInput:
        return cls(message_zh, message_en, errors=[FieldError(field, code, message_zh, message_en)])


class Unauthenticated(IhisError):
    code = "unauthenticated"
    status = 401
    title_zh = "请先登录"
    title_en = "Authentication required"


class Forbidden(IhisError):
    code = "forbidden"
    status = 403
    title_zh = "无权执行此操作"
    title_en = "Forbidden"


class NotFound(IhisError):
    code = "not_found"
    status = 404
    title_zh = "未找到"
    title_en = "Not found"


class Conflict(IhisError):
    code = "conflict"
    status = 409
    title_zh = "状态冲突"
    title_en = "Conflict"


class RateLimited(IhisError):
    code = "rate_limited"
    status = 429
    title_zh = "请求过于频繁，请稍后再试"
    title_en = "Too many requests; try again later"

    def __init__(self, retry_after_seconds: int, detail_zh: str | None = None, detail_en: str | None = None):
        retry = max(1, int(retry_after_seconds))
        super().__init__(
            detail_zh, detail_en, headers={"Retry-After": str(retry)}, extra={"retry_after": retry}
        )


class Unavailable(IhisError):
    code = "unavailable"
    status = 503
    title_zh = "服务暂不可用"
    title_en = "Service unavailable"


class UpstreamFailed(IhisError):
    """An outside system (SMS, real-name authority, ...) failed or answered garbage."""

    code = "upstream_failed"
    status = 502
    title_zh = "外部系统暂不可用"
    title_en = "An outside system failed"


# --- rendering --------------------------------------------------------------------------------

_PYDANTIC_ZH = {
    "missing": "必填",
    "string_too_short": "太短",
    "string_too_long": "太长",
    "string_pattern_mismatch": "格式不正确",
    "value_error": "值不正确",
    "int_parsing": "应为整数",
    "bool_parsing": "应为布尔值",
    "date_from_datetime_parsing": "应为日期",
    "date_parsing": "应为日期",
    "enum": "取值不在允许范围内",
    "literal_error": "取值不在允许范围内",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "json_invalid": "JSON 格式错误",
    "extra_forbidden": "不允许的字段",
}


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def validation_problem(exc: RequestValidationError) -> InvalidInput:
    """Turn FastAPI/Pydantic validation errors into one ``InvalidInput`` naming every field."""
    errors = []
    for err in exc.errors():
        kind = str(err.get("type", "value_error"))
        message_en = str(err.get("msg", "invalid"))
        errors.append(
            FieldError(
                field=_field_path(tuple(err.get("loc", ()))),
                code=kind,
                message_zh=_PYDANTIC_ZH.get(kind, "值不正确")
                + ("" if kind == "missing" else f"：{message_en}"),
                message_en=message_en,
            )
        )
    names = ", ".join(e.field for e in errors)
    return InvalidInput(f"以下字段有误：{names}", f"Invalid fields: {names}", errors=errors)


def problem_response(request: Request, error: IhisError) -> JSONResponse:
    lang = language_of(request)
    request_id = getattr(request.state, "request_id", None)
    return JSONResponse(
        error.problem(lang, instance=request.url.path, request_id=request_id),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers,
    )


_HTTP_STATUS_ERRORS: dict[int, type[IhisError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


class MethodNotAllowed(IhisError):
    code = "method_not_allowed"
    status = 405
    title_zh = "不支持的请求方法"
    title_en = "Method not allowed"


class PayloadTooLarge(IhisError):
    code = "payload_too_large"
    status = 413
    title_zh = "上传内容过大"
    title_en = "Payload too large"


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the API as problem+json."""

    @app.exception_handler(IhisError)
    async def _ihis(request: Request, exc: IhisError) -> JSONResponse:
        if exc.status >= 500:
            log.error("request_failed", code=exc.code, error=str(exc))
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _HTTP_STATUS_ERRORS.get(exc.status_code)
        if exc.status_code == 405:
            cls = MethodNotAllowed
        elif exc.status_code == 413:
            cls = PayloadTooLarge
        error = cls() if cls else BadRequest(str(exc.detail))
        return problem_response(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", error_type=type(exc).__name__)
        return problem_response(request, IhisError())
