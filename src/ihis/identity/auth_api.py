"""Sign-in endpoints: staff login, second factor, step-up, password change, sign-out, ``/auth/me``.

Endpoints that check a secret run their own units of work instead of the ``Db`` dependency: a
wrong secret must roll the request back and *then* be counted and audited in a unit of its own
(``auth_service.record_rejection``), and the slow argon2 check must not hold SQLite's write lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from ihis.identity import auth_service, mfa, sessions, staff_service, throttle
from ihis.identity.access import SessionActor, StaffActor
from ihis.identity.models import AuthSession
from ihis.identity.schemas_auth import (
    ApplicationLoginIn,
    ApplicationLoginOut,
    CodeIn,
    InstitutionRef,
    LoginOut,
    MeOut,
    MfaState,
    MfaVerifyOut,
    PasswordChangeIn,
    PasswordChangeOut,
    RecoveryCodesOut,
    StaffLoginIn,
    StaffRegistrationIn,
    StaffRegistrationOut,
    StepUpIn,
    StepUpOut,
    TotpEnrolmentOut,
)
from ihis.platform.db import Database
from ihis.platform.http import AppSettings, Db, ReadDb, client_ip, get_database, institution_code, user_agent
from ihis.settings import Settings
from ihis.tenancy.service import institution_by_code

router = APIRouter(prefix="/auth", tags=["auth"])

DatabaseDep = Annotated[Database, Depends(get_database)]
T = TypeVar("T")


def _checking_secret(database: Database, settings: Settings, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a writing unit; a rejected secret is recorded after the rollback."""
    try:
        with database.unit_of_work(write=True) as db:
            return work(db)
    except auth_service.SecretRejected as rejected:
        auth_service.record_rejection(database, settings, rejected.attempt)
        raise rejected.public from None


@router.post("/staff/login", response_model=LoginOut)
def staff_login(
    body: StaffLoginIn, request: Request, response: Response, database: DatabaseDep, settings: AppSettings
) -> LoginOut:
    """Password sign-in for staff; the session stays half-open until the second factor passes."""
    code = body.institution_code or institution_code(request)
    ip, ua = client_ip(request), user_agent(request)
    try:
        with database.unit_of_work(write=False) as rdb:
            institution = institution_by_code(rdb, code)
            account = auth_service.check_staff_password(
                rdb, settings, institution, body.username, body.password, ip=ip, user_agent=ua
            )
    except auth_service.SecretRejected as rejected:
        auth_service.record_rejection(database, settings, rejected.attempt)
        raise rejected.public from None
    channel = "cookie" if body.client == "web" else "bearer"
    result = _checking_secret(
        database,
        settings,
        lambda db: auth_service.open_staff_session(
            db, settings, account, body.password, channel=channel, ip=ip, user_agent=ua
        ),
    )
    if channel == "cookie":
        sessions.set_session_cookies(response, result.issued, settings)
    return LoginOut(
        next=result.next,
        token=result.issued.token if channel == "bearer" else None,
        expires_at=result.issued.expires_at,
        idle_timeout_seconds=settings.session_idle_minutes * 60,
    )


@router.post("/mfa/enrol", response_model=TotpEnrolmentOut)
def begin_mfa_enrolment(actor: SessionActor, db: Db, settings: AppSettings) -> TotpEnrolmentOut:
    """A new TOTP secret with its otpauth URI and QR code (pending until confirmed)."""
    enrolment = mfa.begin_totp_enrolment(db, settings, actor)
    return TotpEnrolmentOut(
        secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_png=enrolment.qr_png
    )


@router.post("/mfa/enrol/confirm", response_model=RecoveryCodesOut)
def confirm_mfa_enrolment(
    body: CodeIn, actor: SessionActor, db: Db, settings: AppSettings
) -> RecoveryCodesOut:
    """Enable TOTP with a code from the app; returns the recovery codes once."""
    codes, step = mfa.confirm_totp_enrolment(db, settings, actor, body.code)
    return RecoveryCodesOut(recovery_codes=codes, next=step)


@router.post("/mfa/verify", response_model=MfaVerifyOut)
def verify_mfa(
    body: CodeIn, actor: SessionActor, database: DatabaseDep, settings: AppSettings
) -> MfaVerifyOut:
    """Second factor for a half-open session: a TOTP code or an unused recovery code."""
    method, remaining, step = _checking_secret(
        database, settings, lambda db: mfa.verify_session(db, settings, actor, body.code)
    )
    return MfaVerifyOut(method=method, recovery_codes_remaining=remaining, next=step)


@router.post("/step-up", response_model=StepUpOut)
def step_up(body: StepUpIn, actor: StaffActor, database: DatabaseDep, settings: AppSettings) -> StepUpOut:
    """Re-authenticate (password + second factor) before a sensitive action."""
    valid_until = _checking_secret(
        database, settings, lambda db: mfa.step_up(db, settings, actor, body.password, body.code)
    )
    return StepUpOut(valid_until=valid_until)


@router.post("/password", response_model=PasswordChangeOut)
def change_password(
    body: PasswordChangeIn, actor: SessionActor, database: DatabaseDep, settings: AppSettings
) -> PasswordChangeOut:
    """Change one's own password (forced after first login); other sessions are signed out."""
    revoked, step = _checking_secret(
        database,
        settings,
        lambda db: auth_service.change_password(
            db, settings, actor, body.current_password, body.new_password
        ),
    )
    return PasswordChangeOut(next=step, other_sessions_revoked=revoked)


@router.post("/logout", status_code=204)
def logout(actor: SessionActor, db: Db) -> Response:
    """End this session and clear its cookies."""
    auth_service.logout(db, actor)
    response = Response(status_code=204)
    sessions.clear_session_cookies(response)
    return response


@router.get("/me", response_model=MeOut)
def me(actor: SessionActor, db: ReadDb, settings: AppSettings) -> MeOut:
    """Who is signed in, what they may do, and what they must do next."""
    account = auth_service.load_account(db, actor)
    institution = auth_service.institution_of(db, actor)
    session = db.get(AuthSession, actor.session_id)
    assert session is not None
    enrolled = auth_service.totp_enrolled(account)
    watermark = auth_service.watermark_text(db, actor)
    step_up_until = (
        actor.step_up_at + dt.timedelta(minutes=settings.step_up_minutes)
        if actor.step_up_at is not None
        else None
    )
    return MeOut(
        user_id=actor.user_id,
        kind=actor.kind,
        display_name=actor.display_name,
        staff_no=actor.staff_no,
        roles=sorted(actor.roles),
        permissions=sorted(str(p) for p in actor.permissions),
        mfa=MfaState(
            required=actor.is_staff,
            enrolled=enrolled,
            verified=actor.mfa_verified,
            recovery_codes_remaining=mfa.remaining_recovery_codes(db, account.id) if enrolled else 0,
        ),
        must_change_password=account.must_change_password,
        next=auth_service.next_step(account, actor.mfa_verified),
        institution=InstitutionRef(id=institution.id, code=institution.code, name=institution.name),
        idle_timeout_seconds=settings.session_idle_minutes * 60,
        session_expires_at=session.absolute_expires_at,
        step_up_valid_until=step_up_until,
        watermark=watermark,
    )


@router.post("/staff/register", response_model=StaffRegistrationOut, status_code=201)
def register_staff(
    body: StaffRegistrationIn, request: Request, db: Db, settings: AppSettings
) -> StaffRegistrationOut:
    """Self-registration of a doctor, nurse or pharmacist; the account waits for qualification review."""
    throttle.check_registration_allowed(settings, client_ip(request))
    password_hash = staff_service.registration_password_hash(body)  # argon2 before the write lock
    institution = institution_by_code(db, body.institution_code or institution_code(request))
    account = staff_service.register_staff(
        db, institution, body, password_hash, ip=client_ip(request), user_agent=user_agent(request)
    )
    issued = sessions.issue_session(
        db,
        account,
        settings,
        channel="application",
        ip=client_ip(request),
        user_agent=user_agent(request),
        mfa_verified=False,
    )
    return StaffRegistrationOut(
        user_id=account.id,
        username=account.username or "",
        status="pending_review",
        application_token=issued.token,
        application_expires_at=issued.expires_at,
    )


@router.post("/staff/application-login", response_model=ApplicationLoginOut)
def application_login(
    body: ApplicationLoginIn, request: Request, database: DatabaseDep, settings: AppSettings
) -> ApplicationLoginOut:
    """A self-registered applicant awaiting review gets a new restricted application token."""
    code = body.institution_code or institution_code(request)
    ip, ua = client_ip(request), user_agent(request)
    try:
        with database.unit_of_work(write=False) as rdb:
            institution = institution_by_code(rdb, code)
            checked = auth_service.check_staff_password(
                rdb,
                settings,
                institution,
                body.username,
                body.password,
                ip=ip,
                user_agent=ua,
                required_status="pending_review",
            )
    except auth_service.SecretRejected as rejected:
        auth_service.record_rejection(database, settings, rejected.attempt)
        raise rejected.public from None
    with database.unit_of_work() as db:
        issued = auth_service.open_application_session(db, settings, checked, ip=ip, user_agent=ua)
    return ApplicationLoginOut(application_token=issued.token, application_expires_at=issued.expires_at)
