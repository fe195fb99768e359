"""Response models of the code tables."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class EditionOut(Out):
    id: int
    system: str
    name: str
    is_current: bool
    code_count: int
    imported_at: dt.datetime | None


class CodeOut(Out):
    code: str
    name: str
    initials: str
    parent_code: str | None
    enabled: bool


class CodeDetailOut(CodeOut):
    system: str
    edition: str


class SearchHitOut(CodeOut):
    # Why it matched: code | code_prefix | initials | name | initials_contains (rank order).
    match: str


class SearchOut(BaseModel):
    system: str
    edition: EditionOut
    items: list[SearchHitOut]


class ImportReportOut(BaseModel):
    edition: EditionOut
    added: int
    updated: int
    unchanged: int
    disabled: int
