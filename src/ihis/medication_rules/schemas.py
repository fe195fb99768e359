"""Request and response models of the knowledge-base maintenance API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ihis.medication_rules.entries import Kind

MAX_IMPORT_ENTRIES = 5000


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EntryIn(In):
    kind: Kind
    data: dict[str, Any] = Field(description="The kind's fields (see docs/medication-rules.md)")


class EntryUpdateIn(In):
    data: dict[str, Any]
    revision: int = Field(ge=1, description="The revision read; a concurrent change answers 409")


class EntryOut(BaseModel):
    id: int = Field(description="Stable id of the entry across revisions")
    kind: str
    data: dict[str, Any]
    revision: int = Field(description="The knowledge-base version this revision was made in")
    created_at: dt.datetime


class KnowledgeBaseOut(BaseModel):
    version: int
    counts: dict[str, int]
    kinds: list[str]


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    action: str
    kind: str | None
    entry_id: int | None
    summary: dict[str, Any]
    actor_name: str
    created_at: dt.datetime


class ImportEntryIn(In):
    kind: Kind
    data: dict[str, Any]


class ImportIn(In):
    format: str = Field(pattern=r"^ihis-rx-knowledge/1$")
    version: int | None = Field(default=None, description="Ignored: the version of the export")
    entries: list[ImportEntryIn] = Field(max_length=MAX_IMPORT_ENTRIES)


class ExportOut(BaseModel):
    format: str
    version: int
    entries: list[ImportEntryIn]


class ImportOut(BaseModel):
    version: int
    entries: int
