"""Language negotiation: zh-CN is the default; English when the client asks for it."""

from __future__ import annotations

from starlette.requests import HTTPConnection

SUPPORTED = ("zh-CN", "en")


def language_of(conn: HTTPConnection) -> str:
    """``en`` if the client prefers English (``?lang=en`` or Accept-Language), else ``zh-CN``."""
    explicit = conn.query_params.get("lang")
    if explicit:
        return "en" if explicit.lower().startswith("en") else "zh-CN"
    header = conn.headers.get("accept-language", "")
    first = header.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh-CN"


def pick(lang: str, zh: str, en: str) -> str:
    """The message in the caller's language."""
    return en if lang == "en" else zh
