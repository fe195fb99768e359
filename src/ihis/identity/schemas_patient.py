"""Request and response models of the patient end: SMS codes, sign-up/in, profile, visitors, consent."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from ihis.identity.schemas_auth import LoginOut

# Mainland mobile numbers (issue 2 §4): 1, then 3-9, then 9 digits.
MOBILE_PATTERN = r"^1[3-9]\d{9}$"
Mobile = Annotated[str, StringConstraints(strip_whitespace=True, pattern=MOBILE_PATTERN)]
SmsCodeValue = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]
# Chinese names may contain the middle dot of transliterated names (·); 2..30 characters.
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=30)]
Relation = Literal["self", "spouse", "child", "parent", "other"]
Purpose = Literal["register", "login", "reset"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SmsCodeRequestIn(_In):
    institution_code: str | None = Field(default=None, max_length=32)
    phone: Mobile
    purpose: Purpose


class SmsCodeRequestOut(BaseModel):
    """The same answer whether or not the phone has an account."""

    accepted: Literal[True] = True
    interval_seconds: int
    expires_in_seconds: int


class PatientRegisterIn(_In):
    institution_code: str | None = Field(default=None, max_length=32)
    phone: Mobile
    code: SmsCodeValue
    password: str = Field(min_length=1, max_length=128)
    display_name: str | None = Field(default=None, min_length=1, max_length=32)
    client: Literal["web", "api"] = "web"


class PatientLoginIn(_In):
    """Either ``password`` or ``code`` (an SMS ``login`` code)."""

    institution_code: str | None = Field(default=None, max_length=32)
    phone: Mobile
    password: str | None = Field(default=None, min_length=1, max_length=128)
    code: SmsCodeValue | None = None
    client: Literal["web", "api"] = "web"


class PatientLoginOut(LoginOut):
    user_id: int
    display_name: str


class PasswordResetIn(_In):
    institution_code: str | None = Field(default=None, max_length=32)
    phone: Mobile
    code: SmsCodeValue
    new_password: str = Field(min_length=1, max_length=128)


class ProfileOut(BaseModel):
    user_id: int
    display_name: str
    phone: str | None  # masked: 130******89
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    password_set: bool


class ProfilePatchIn(_In):
    display_name: str = Field(min_length=1, max_length=32)


class VisitorIn(_In):
    name: PersonName
    id_number: str = Field(min_length=15, max_length=20)
    phone: Mobile
    relation: Relation


class VisitorInsuranceOut(BaseModel):
    """A visitor's 医保 binding: the scheme, the insured area and the person number masked."""

    psn_no: str  # masked: 110*************1234
    insutype: str  # 310 职工基本医疗保险 | 390 城乡居民基本医疗保险
    insutype_name: str
    area: str  # 参保地 (6-digit admdvs)
    bound_at: dt.datetime


class InsuranceBindIn(_In):
    """The patient authorizes the query of this visitor's insurance at the national platform."""

    agree: Literal[True]


class VisitorOut(BaseModel):
    """A visitor as the patient sees them: personal data masked, age facts derived."""

    id: int
    relation: Relation
    name: str  # 李*
    id_number: str  # 110***********002X
    phone: str  # 130******89
    sex: int  # GB/T 2261.1: 1 male, 2 female
    # The birth date is part of the (masked) ID number, so only the age is shown.
    age: int
    is_minor: bool
    under_six: bool
    verified_at: dt.datetime | None
    created_at: dt.datetime
    insurance_bound: bool = False
    insurance: VisitorInsuranceOut | None = None


class ConsentDocumentOut(BaseModel):
    id: int
    kind: str
    version: str
    title: str
    body: str
    body_hash: str
    effective_at: dt.datetime
    created_at: dt.datetime


class ConsentStatusOut(BaseModel):
    """The consent the patient must have accepted now, and whether they did."""

    document: ConsentDocumentOut | None
    accepted: bool
    accepted_at: dt.datetime | None


class ConsentAcceptIn(_In):
    document_id: int
    version: str = Field(min_length=1, max_length=32)


class ConsentAcceptanceOut(BaseModel):
    document_id: int
    version: str
    text_hash: str
    accepted_at: dt.datetime


class ConsentDocumentIn(_In):
    kind: Literal["internet_service"] = "internet_service"
    version: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
    title: str = Field(min_length=1, max_length=128)
    body: str = Field(min_length=1, max_length=100_000)
    # Default: effective now. A future time schedules the version.
    effective_at: AwareDatetime | None = None
