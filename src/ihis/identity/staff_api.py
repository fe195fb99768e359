"""Staff account administration: search, create, batch import, roles, status, MFA reset, sessions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response

from ihis.identity import auth_service, staff_import, staff_service
from ihis.identity.access import Actor, Permission, require
from ihis.identity.models import UserAccount
from ihis.identity.passwords import check_password_policy, generate_initial_password, hash_password
from ihis.identity.schemas_staff import (
    ImportedStaffOut,
    ImportReportOut,
    RevokeOut,
    RoleChangeOut,
    RolesIn,
    SessionOut,
    StaffCreatedOut,
    StaffCreateIn,
    StaffOut,
    StaffPage,
    StatusOut,
)
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Forbidden, PayloadTooLarge
from ihis.platform.http import AppSettings, Db, ReadDb, get_database
from ihis.platform.masking import mask_phone

router = APIRouter(prefix="/admin", tags=["staff administration"])

StaffReader = Annotated[Actor, Depends(require(Permission.STAFF_READ))]
StaffManager = Annotated[Actor, Depends(require(Permission.STAFF_MANAGE))]
RoleAssigner = Annotated[Actor, Depends(require(Permission.ROLE_ASSIGN))]
SessionRevoker = Annotated[Actor, Depends(require(Permission.SESSION_REVOKE))]
SessionViewer = Annotated[Actor, Depends(require(Permission.STAFF_READ, Permission.SESSION_REVOKE))]
DatabaseDep = Annotated[Database, Depends(get_database)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _out(account: UserAccount, roles: list[str], *, reveal_phone: bool) -> StaffOut:
    return StaffOut(
        id=account.id,
        username=account.username,
        staff_no=account.staff_no,
        display_name=account.display_name,
        phone=account.phone if reveal_phone else mask_phone(account.phone),
        status=account.status,
        roles=roles,
        mfa_enrolled=account.totp_enabled_at is not None,
        must_change_password=account.must_change_password,
        last_login_at=account.last_login_at,
        created_at=account.created_at,
    )


@router.get("/staff", response_model=StaffPage)
def search_staff(
    actor: StaffReader,
    db: ReadDb,
    q: Annotated[str | None, Query(max_length=64, description="name, username or staff number")] = None,
    role: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[Literal["active", "pending_review", "disabled", "rejected"] | None, Query()] = None,
    phone: Annotated[str | None, Query(pattern=r"^1[3-9]\d{9}$")] = None,
    reveal_phone: Annotated[bool, Query(description="full phone numbers (pii.read_full; audited)")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> StaffPage:
    """Search the institution's staff; phone numbers masked unless revealed by a pii.read_full holder."""
    if reveal_phone and not actor.can(Permission.PII_READ_FULL):
        raise Forbidden(extra={"missing_permissions": [str(Permission.PII_READ_FULL)]})
    rows, total = staff_service.search_staff(
        db, actor, q=q, role=role, status=status, phone=phone, limit=limit, offset=offset
    )
    roles = staff_service.roles_of(db, [r.id for r in rows])
    audit.record(
        db,
        actor.audit(),
        "staff.read_pii" if reveal_phone else "staff.search",
        resource_type="user_account",
        detail={"ids": [r.id for r in rows]} if reveal_phone else {"total": total},
    )
    items = [_out(r, roles[r.id], reveal_phone=reveal_phone) for r in rows]
    return StaffPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/staff", response_model=StaffCreatedOut, status_code=201)
def create_staff(body: StaffCreateIn, actor: StaffManager, db: Db, settings: AppSettings) -> StaffCreatedOut:
    """Open a staff account; without ``initial_password`` one is generated and shown once."""
    username = auth_service.normalise_username(body.username)
    if body.initial_password:
        check_password_policy(
            body.initial_password, field="body.initial_password", username=username, phone=body.phone
        )
    password = body.initial_password or generate_initial_password()
    password_hash = hash_password(password)  # argon2 before the first statement takes the write lock
    candidate = staff_service.NewStaff(
        username=username,
        display_name=body.display_name,
        staff_no=body.staff_no,
        phone=body.phone,
        roles=tuple(sorted({str(r) for r in body.roles})),
        password=password,
        generated=not body.initial_password,
    )
    account = staff_service.create_staff(db, settings, actor, candidate, password_hash)
    out = _out(account, list(candidate.roles), reveal_phone=False)
    # A password the administrator typed is not echoed back.
    return StaffCreatedOut(**out.model_dump(), initial_password=password if candidate.generated else None)


@router.get("/staff/import-template", response_class=Response)
def import_template(actor: StaffManager) -> Response:
    """The xlsx template for batch import."""
    return Response(
        staff_import.template_xlsx(),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="staff-import-template.xlsx"'},
    )


@router.post("/staff/import", response_model=ImportReportOut, status_code=201)
def import_staff(
    actor: StaffManager,
    database: DatabaseDep,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="xlsx or csv, one account per row")],
) -> ImportReportOut:
    """Create many accounts from a file: all rows or none, with a row-by-row error report."""
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge()
    rows = staff_import.read_upload(file.filename, data)
    with database.unit_of_work(write=False) as rdb:
        planned = staff_import.plan_import(rdb, settings, actor, rows)
    hashes = [hash_password(row.candidate.password) for row in planned]  # outside any transaction
    with database.unit_of_work(write=True) as db:
        created = staff_import.apply_import(db, actor, planned, hashes)
        report = [
            ImportedStaffOut(
                row=row.number,
                id=account.id,
                username=row.candidate.username,
                staff_no=row.candidate.staff_no or "",
                display_name=row.candidate.display_name,
                roles=list(row.candidate.roles),
                initial_password=row.candidate.password if row.candidate.generated else None,
            )
            for row, account in created
        ]
    return ImportReportOut(count=len(report), created=report)


@router.get("/staff/{user_id}", response_model=StaffOut)
def get_staff(user_id: int, actor: StaffReader, db: ReadDb) -> StaffOut:
    """One staff account (phone masked)."""
    account = staff_service.get_staff(db, actor, user_id)
    audit.record(db, actor.audit(), "staff.read", resource_type="user_account", resource_id=account.id)
    return _out(account, staff_service.roles_of(db, [account.id])[account.id], reveal_phone=False)


@router.put("/staff/{user_id}/roles", response_model=RoleChangeOut)
def set_roles(
    user_id: int, body: RolesIn, actor: RoleAssigner, db: Db, settings: AppSettings
) -> RoleChangeOut:
    """Replace an account's roles (recent step-up; separation of duties enforced)."""
    before, after = staff_service.set_roles(db, settings, actor, user_id, [str(r) for r in body.roles])
    return RoleChangeOut(user_id=user_id, before=before, after=after)


@router.post("/staff/{user_id}/disable", response_model=StatusOut)
def disable_staff(user_id: int, actor: StaffManager, db: Db) -> StatusOut:
    """Disable an account; its sessions end at once."""
    account, revoked = staff_service.set_status(db, actor, user_id, enable=False)
    return StatusOut(user_id=account.id, status=account.status, sessions_revoked=revoked)


@router.post("/staff/{user_id}/enable", response_model=StatusOut)
def enable_staff(user_id: int, actor: StaffManager, db: Db) -> StatusOut:
    """Re-enable a disabled account."""
    account, _ = staff_service.set_status(db, actor, user_id, enable=True)
    return StatusOut(user_id=account.id, status=account.status)


@router.post("/staff/{user_id}/reset-mfa", response_model=StatusOut)
def reset_mfa(user_id: int, actor: StaffManager, db: Db, settings: AppSettings) -> StatusOut:
    """Forget an account's authenticator and recovery codes (recent step-up); it enrols again."""
    revoked = staff_service.reset_mfa(db, settings, actor, user_id)
    account = staff_service.get_staff(db, actor, user_id)
    return StatusOut(user_id=account.id, status=account.status, sessions_revoked=revoked)


@router.get("/staff/{user_id}/sessions", response_model=list[SessionOut])
def list_sessions(
    user_id: int,
    actor: SessionViewer,
    db: ReadDb,
    settings: AppSettings,
    include_ended: Annotated[bool, Query()] = False,
) -> list[SessionOut]:
    """An account's sessions, newest first."""
    now = utcnow()
    return [
        SessionOut(
            id=row.id,
            channel=row.channel,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            absolute_expires_at=row.absolute_expires_at,
            mfa_verified=row.mfa_verified,
            ip=row.ip,
            user_agent=row.user_agent,
            revoked_at=row.revoked_at,
            revoked_reason=row.revoked_reason,
            live=staff_service.is_live(row, settings, now),
            current=row.id == actor.session_id,
        )
        for row in staff_service.sessions_of(db, actor, user_id, include_ended=include_ended)
    ]


@router.post("/sessions/{session_id}/revoke", response_model=RevokeOut)
def revoke_session(session_id: int, actor: SessionRevoker, db: Db, settings: AppSettings) -> RevokeOut:
    """End one session now (recent step-up)."""
    revoked = staff_service.revoke_session(db, settings, actor, session_id)
    return RevokeOut(session_id=session_id, revoked=revoked)
