"""Request and response models of staff account administration."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from ihis.identity.access import Role
from ihis.identity.schemas_auth import MOBILE_PATTERN, USERNAME_PATTERN

STAFF_NO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StaffCreateIn(_In):
    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=64)
    staff_no: str = Field(pattern=STAFF_NO_PATTERN)
    phone: str | None = Field(default=None, pattern=MOBILE_PATTERN)
    roles: list[Role] = Field(default_factory=list, max_length=len(Role))
    # Omit to have one generated (returned once); either way it must be changed at first login.
    initial_password: str | None = Field(default=None, min_length=1, max_length=256)


class StaffOut(BaseModel):
    id: int
    username: str | None
    staff_no: str | None
    display_name: str
    # Masked (``139******78``) unless the caller holds pii.read_full and asked for it.
    phone: str | None
    status: str
    roles: list[str]
    mfa_enrolled: bool
    must_change_password: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class StaffCreatedOut(StaffOut):
    # Only when the server generated it: shown this once, never stored in clear.
    initial_password: str | None = None


class StaffPage(BaseModel):
    items: list[StaffOut]
    total: int
    limit: int
    offset: int


class RolesIn(_In):
    roles: list[Role] = Field(max_length=len(Role))


class RoleChangeOut(BaseModel):
    user_id: int
    before: list[str]
    after: list[str]


class StatusOut(BaseModel):
    user_id: int
    status: str
    sessions_revoked: int = 0


class SessionOut(BaseModel):
    id: int
    channel: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    absolute_expires_at: dt.datetime
    mfa_verified: bool
    ip: str | None
    user_agent: str | None
    revoked_at: dt.datetime | None
    revoked_reason: str | None
    live: bool
    current: bool


class RevokeOut(BaseModel):
    session_id: int
    revoked: bool


class ImportedStaffOut(BaseModel):
    row: int
    id: int
    username: str
    staff_no: str
    display_name: str
    roles: list[str]
    initial_password: str | None


class ImportReportOut(BaseModel):
    count: int
    created: list[ImportedStaffOut]
