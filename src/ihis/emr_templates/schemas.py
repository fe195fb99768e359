"""Request and response models of EMR templates."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

MAX_DIAGNOSES = 20


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DiagnosisIn(In):
    system: str = Field(min_length=1, max_length=16, description="icd10 | tcm-disease | tcm-syndrome")
    code: str = Field(min_length=1, max_length=48)
    # Optional: the name is always taken from the code table, so it cannot drift from the code.
    name: str | None = Field(default=None, max_length=200)


class TemplateFields(In):
    name: str = Field(min_length=1, max_length=64)
    chief_complaint: str = Field(default="", max_length=500)
    present_illness: str = Field(default="", max_length=4000)
    past_history: str = Field(default="", max_length=2000)
    allergy_history: str = Field(default="", max_length=1000)
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=MAX_DIAGNOSES)
    treatment_advice: str = Field(default="", max_length=4000)


class DepartmentTemplateIn(TemplateFields):
    department_id: int


class TemplateUpdateIn(TemplateFields):
    version: int = Field(ge=1, description="The version read; a concurrent change answers 409")


class DiagnosisOut(BaseModel):
    system: str
    edition: str
    code: str
    name: str


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scope: str  # personal | department
    owner_user_id: int | None
    department_id: int | None
    name: str
    chief_complaint: str
    present_illness: str
    past_history: str
    allergy_history: str
    diagnoses: list[DiagnosisOut]
    treatment_advice: str
    version: int
    created_by: int
    updated_by: int
    created_at: dt.datetime
    updated_at: dt.datetime
