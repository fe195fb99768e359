"""Search keys of a code row: the code without dots or case, and the name's pinyin initials."""

from __future__ import annotations

import re

_NOT_KEY = re.compile(r"[^0-9A-Z+*]")
_NOT_INITIAL = re.compile(r"[^0-9a-z]")


def code_key(code: str) -> str:
    """``i10.x00x002`` and ``I10X00X002`` are one code: upper case, no dots, blanks or dashes."""
    return _NOT_KEY.sub("", code.upper())


def initials(name: str) -> str:
    """Pinyin initials of a name (``原发性高血压`` -> ``yfxgxy``); Latin letters and digits kept."""
    # Imported when a name is keyed (imports, catalogue changes), not with the API: pypinyin's
    # dictionaries take ~55 MB of every process that imports it.
    from pypinyin import Style, lazy_pinyin

    # strict=False: 重 -> z (not ""), so every Chinese character contributes one letter.
    parts = lazy_pinyin(name, style=Style.FIRST_LETTER, strict=False)
    return _NOT_INITIAL.sub("", "".join(parts).lower())


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix`` (ASCII keys only)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
