"""Request and response models of sign-in, second factor, step-up, password and self-registration."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# What the client must do next: "mfa" (enter a TOTP/recovery code), "enrol_mfa" (set up TOTP),
# "change_password" (initial or reset password), "done" (fully signed in).
NextStep = Literal["mfa", "enrol_mfa", "change_password", "done"]
Profession = Literal["doctor", "nurse", "pharmacist"]

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$"
MOBILE_PATTERN = r"^1[3-9]\d{9}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StaffLoginIn(_In):
    institution_code: str | None = Field(default=None, max_length=32)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    client: Literal["web", "api"] = "web"


class LoginOut(BaseModel):
    next: NextStep
    # Only for ``client="api"``: send as ``Authorization: Bearer <token>``; shown once.
    token: str | None = None
    expires_at: dt.datetime
    idle_timeout_seconds: int


class CodeIn(_In):
    # A 6-digit TOTP code or a recovery code (``abcde-fghjk``).
    code: str = Field(min_length=6, max_length=32)


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_png: str  # data:image/png;base64,...


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]
    next: NextStep


class MfaVerifyOut(BaseModel):
    method: Literal["totp", "recovery"]
    recovery_codes_remaining: int
    next: NextStep


class StepUpIn(_In):
    password: str = Field(min_length=1, max_length=256)
    code: str = Field(min_length=6, max_length=32)


class StepUpOut(BaseModel):
    valid_until: dt.datetime


class PasswordChangeIn(_In):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordChangeOut(BaseModel):
    next: NextStep
    other_sessions_revoked: int


class InstitutionRef(BaseModel):
    id: int
    code: str
    name: str


class MfaState(BaseModel):
    required: bool
    enrolled: bool
    verified: bool
    recovery_codes_remaining: int


class MeOut(BaseModel):
    user_id: int
    kind: Literal["patient", "staff"]
    display_name: str
    staff_no: str | None
    roles: list[str]
    permissions: list[str]
    mfa: MfaState
    must_change_password: bool
    next: NextStep
    institution: InstitutionRef
    idle_timeout_seconds: int
    session_expires_at: dt.datetime
    step_up_valid_until: dt.datetime | None
    # Shown across every screen (DOMAIN §10): name + staff number for staff, the patient's name.
    watermark: str


class StaffRegistrationIn(_In):
    institution_code: str | None = Field(default=None, max_length=32)
    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=64)
    phone: str = Field(pattern=MOBILE_PATTERN)
    password: str = Field(min_length=1, max_length=256)
    profession: Profession


class StaffRegistrationOut(BaseModel):
    user_id: int
    username: str
    status: Literal["pending_review"]
    # Bearer token of a restricted session that opens only the applicant's own staff profile
    # (fill in, upload qualification documents, submit for review).
    application_token: str
    application_expires_at: dt.datetime


class ApplicationLoginIn(BaseModel):
    institution_code: str | None = Field(default=None, max_length=32)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class ApplicationLoginOut(BaseModel):
    application_token: str
    application_expires_at: dt.datetime
