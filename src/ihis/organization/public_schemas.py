"""Response bodies of the public directory (patient end, no login).

Nothing here carries a phone number or a full certificate number (licence numbers are masked).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from ihis.organization.models import DisclosureKey, ServiceMode
from ihis.organization.schemas import Page
from ihis.organization.titles import Profession


class PublicCampus(BaseModel):
    id: int
    name: str
    address: str | None


class PublicSubject(BaseModel):
    code: str
    name: str | None


class PublicInstitution(BaseModel):
    code: str
    name: str
    introduction: str | None
    address: str | None
    campuses: list[PublicCampus]
    subjects: list[PublicSubject]


class PublicDepartment(BaseModel):
    id: int
    name: str
    subject_code: str
    subject_name: str
    campus_id: int | None
    campus_name: str | None
    introduction: str | None
    scope: str | None
    strengths: str | None
    doctor_count: int


class PublicMode(BaseModel):
    mode: ServiceMode
    price_fen: int


class PublicDoctor(BaseModel):
    """A doctor card: the dimensions of BJ 5.1.1.1 多维度展示 (title, qualification, specialties)."""

    id: int
    user_id: int = Field(description="The doctor's account id (sessions: /public/doctors/{user_id}/sessions)")
    name: str
    profession: Profession
    title: str | None
    department_id: int
    department_name: str
    specialties: str | None
    practice_years: int | None
    licence_no_masked: str | None
    has_photo: bool
    modes: list[PublicMode]
    # Ratings arrive with the quality domain; null until then.
    rating: float | None = None


class PublicDoctorPage(Page[PublicDoctor]):
    """One page of the doctor directory."""


class PublicDoctorDetail(PublicDoctor):
    introduction: str | None
    qualification_no_masked: str | None
    campus_name: str | None


class PublicDepartmentDetail(PublicDepartment):
    doctors: list[PublicDoctor]


class PublicDisclosureItem(BaseModel):
    key: DisclosureKey
    title: str
    body: str
    updated_at: dt.datetime | None
