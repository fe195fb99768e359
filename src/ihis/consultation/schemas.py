"""Shapes of the workstation and patient consultation API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ConsultationStatus = Literal["in_progress", "completed", "rejected", "stopped"]


class In(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class RejectIn(In):
    reason: str = Field(max_length=500, description="Why this is not a follow-up (told to the patient)")


class StopIn(In):
    reason: str = Field(max_length=500)
    advice: str = Field(max_length=1000, description="What the patient should do offline")


class UploadDecisionIn(In):
    confirm: bool
    note: str | None = Field(default=None, max_length=500)


class SessionSummary(BaseModel):
    id: int
    start_at: dt.datetime
    end_at: dt.datetime
    mode: str
    status: str
    capacity: int
    booked: int
    waiting: int
    in_progress: int
    completed: int


class WaitingPatient(BaseModel):
    registration_id: int
    session_id: int
    queue_number: int
    visitor_name: str
    visitor_sex: int
    visitor_age: int
    under_six: bool
    guardian_accompanied: bool
    confirmed_at: dt.datetime | None
    waiting_minutes: int
    evidence_source: Literal["his", "upload"]
    evidence_pending: bool


class Workbench(BaseModel):
    today: dt.date
    sessions: list[SessionSummary]
    waiting: list[WaitingPatient]


class ConsultationOut(BaseModel):
    id: int
    registration_id: int
    registration_number: str
    session_id: int
    status: ConsultationStatus
    started_at: dt.datetime
    ended_at: dt.datetime | None
    reason: str | None
    advice: str | None
    room_id: int | None
    doctor_id: int
    doctor_name: str
    department_name: str
    visitor_name: str
    mode: str
    record_status: Literal["none", "draft", "signed"]


class TimelineOut(BaseModel):
    kind: str
    actor_role: str
    occurred_at: dt.datetime
    detail: dict[str, object] | None


class ConsultationDetailOut(ConsultationOut):
    timeline: list[TimelineOut]


class UploadOut(BaseModel):
    id: int
    content_type: str
    size_bytes: int
    filename: str | None
    status: str
    created_at: dt.datetime
    decision_note: str | None


class EarlierVisitOut(BaseModel):
    consultation_id: int
    started_at: dt.datetime
    status: str
    doctor_name: str
    signed_record_id: int | None


class HisEncounterOut(BaseModel):
    record_id: str
    start: dt.date
    encounter_class: str
    department_name: str | None


class HisDiagnosisOut(BaseModel):
    record_id: str
    icd10_code: str
    name: str
    recorded_on: dt.date


class PreviewOut(BaseModel):
    registration_id: int
    registration_number: str
    queue_number: int | None
    status: str
    visitor_id: int
    visitor_name: str
    visitor_sex: int
    visitor_age: int
    under_six: bool
    guardian_accompanied: bool
    evidence_source: Literal["his", "upload"]
    evidence_codes: list[str]
    evidence_his_encounter_ids: list[str]
    uploads: list[UploadOut]
    earlier: list[EarlierVisitOut]
    his_encounters: list[HisEncounterOut]
    his_diagnoses: list[HisDiagnosisOut]
    his_error: str | None
