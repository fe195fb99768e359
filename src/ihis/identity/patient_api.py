"""Patient end: SMS codes, sign-up, sign-in, password reset, profile and visitors (就诊人).

Endpoints that check a secret (a password or an SMS code) run their own units of work, as
``auth_api`` does: a wrong secret rolls the request back and is then counted (lockout, the code's
attempt counter) and audited in units of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from ihis.identity import patient_service, sessions, sms_codes, visitor_service
from ihis.identity.access import PatientActor
from ihis.identity.auth_service import SecretRejected, record_rejection
from ihis.identity.consent import ConsentedPatient
from ihis.identity.models import UserAccount, Visitor
from ihis.identity.schemas_patient import (
    InsuranceBindIn,
    PasswordResetIn,
    PatientLoginIn,
    PatientLoginOut,
    PatientRegisterIn,
    ProfileOut,
    ProfilePatchIn,
    SmsCodeRequestIn,
    SmsCodeRequestOut,
    VisitorIn,
    VisitorInsuranceOut,
    VisitorOut,
)
from ihis.integrations.insurance import service as insurance
from ihis.integrations.insurance.protocol import INSURANCE_TYPES, InsuranceError
from ihis.integrations.realname.client import RealNameClient, RealNameConfig
from ihis.integrations.realname.protocol import RealNameUnavailable
from ihis.platform import audit, jobs
from ihis.platform.db import Database
from ihis.platform.errors import FieldError, InvalidInput, UpstreamFailed
from ihis.platform.http import AppSettings, Db, ReadDb, client_ip, get_database, institution_code, user_agent
from ihis.platform.masking import mask_id_number, mask_name, mask_phone
from ihis.settings import Settings
from ihis.tenancy.service import institution_by_code

router = APIRouter()

DatabaseDep = Annotated[Database, Depends(get_database)]
T = TypeVar("T")


def _checking_secret(database: Database, settings: Settings, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a writing unit; a rejected secret is counted and audited after the rollback."""
    try:
        with database.unit_of_work(write=True) as db:
            return work(db)
    except patient_service.PatientSecretRejected as rejected:
        sms_codes.record_wrong_code(database, settings, rejected.code_id)
        record_rejection(database, settings, rejected.attempt)
        raise rejected.public from None
    except SecretRejected as rejected:
        record_rejection(database, settings, rejected.attempt)
        raise rejected.public from None
    except sms_codes.CodeRejected as rejected:
        sms_codes.record_wrong_code(database, settings, rejected.code_id)
        raise sms_codes.invalid_code_error() from None


def _session_out(
    response: Response, settings: Settings, account: UserAccount, issued: sessions.IssuedSession, channel: str
) -> PatientLoginOut:
    if channel == "cookie":
        sessions.set_session_cookies(response, issued, settings)
    return PatientLoginOut(
        next="done",
        token=issued.token if channel == "bearer" else None,
        expires_at=issued.expires_at,
        idle_timeout_seconds=settings.session_idle_minutes * 60,
        user_id=account.id,
        display_name=account.display_name,
    )


# --- SMS codes, sign-up, sign-in, reset ---------------------------------------------------------


@router.post("/auth/sms-codes", response_model=SmsCodeRequestOut, status_code=202, tags=["auth"])
def request_sms_code(
    body: SmsCodeRequestIn, request: Request, db: Db, settings: AppSettings
) -> SmsCodeRequestOut:
    """Send a 6-digit code for ``register``, ``login`` or ``reset`` (same answer whether or not
    the phone has an account); 429 with Retry-After past the per-phone or per-IP limits."""
    institution = institution_by_code(db, body.institution_code or institution_code(request))
    issued = sms_codes.request_code(
        db, settings, institution.id, body.phone, sms_codes.CodePurpose(body.purpose), client_ip(request)
    )
    return SmsCodeRequestOut(
        interval_seconds=issued.interval_seconds, expires_in_seconds=issued.expires_in_seconds
    )


@router.post("/auth/patient/register", response_model=PatientLoginOut, status_code=201, tags=["auth"])
def register_patient(
    body: PatientRegisterIn,
    request: Request,
    response: Response,
    database: DatabaseDep,
    settings: AppSettings,
) -> PatientLoginOut:
    """Create a patient account with a ``register`` code and sign it in."""
    ip, ua = client_ip(request), user_agent(request)
    channel = "cookie" if body.client == "web" else "bearer"

    def work(db: Session) -> tuple[UserAccount, sessions.IssuedSession]:
        institution = institution_by_code(db, body.institution_code or institution_code(request))
        account = patient_service.register_patient(
            db,
            settings,
            institution,
            phone=body.phone,
            code=body.code,
            password=body.password,
            display_name=body.display_name,
            ip=ip,
            user_agent=ua,
        )
        return patient_service.open_patient_session(
            db, settings, account.id, password=None, checked_hash=None, channel=channel, ip=ip, user_agent=ua
        )

    account, issued = _checking_secret(database, settings, work)
    return _session_out(response, settings, account, issued, channel)


@router.post("/auth/patient/login", response_model=PatientLoginOut, tags=["auth"])
def login_patient(
    body: PatientLoginIn, request: Request, response: Response, database: DatabaseDep, settings: AppSettings
) -> PatientLoginOut:
    """Sign in with phone + password or phone + ``login`` code; the same answer for an unknown phone."""
    if (body.password is None) == (body.code is None):
        message = ("请输入密码或验证码（二选一）", "Give either a password or a code")
        raise InvalidInput(
            *message,
            errors=[
                FieldError("body.password", "password_or_code", *message),
                FieldError("body.code", "password_or_code", *message),
            ],
        )
    ip, ua = client_ip(request), user_agent(request)
    channel = "cookie" if body.client == "web" else "bearer"
    code = body.institution_code or institution_code(request)
    password = body.password
    if password is not None:
        try:
            # argon2 is slow: check it in a read unit, without SQLite's write lock.
            with database.unit_of_work(write=False) as rdb:
                institution = institution_by_code(rdb, code)
                checked = patient_service.check_patient_password(
                    rdb, settings, institution, body.phone, password, ip=ip, user_agent=ua
                )
                account_id, checked_hash = checked.id, checked.password_hash
        except SecretRejected as rejected:
            record_rejection(database, settings, rejected.attempt)
            raise rejected.public from None
        account, issued = _checking_secret(
            database,
            settings,
            lambda db: patient_service.open_patient_session(
                db,
                settings,
                account_id,
                password=password,
                checked_hash=checked_hash,
                channel=channel,
                ip=ip,
                user_agent=ua,
            ),
        )
        return _session_out(response, settings, account, issued, channel)

    sms_code = body.code or ""

    def by_code(db: Session) -> tuple[UserAccount, sessions.IssuedSession]:
        institution = institution_by_code(db, code)
        checked = patient_service.check_patient_code(
            db, settings, institution, body.phone, sms_code, ip=ip, user_agent=ua
        )
        return patient_service.open_patient_session(
            db, settings, checked.id, password=None, checked_hash=None, channel=channel, ip=ip, user_agent=ua
        )

    account, issued = _checking_secret(database, settings, by_code)
    return _session_out(response, settings, account, issued, channel)


@router.post("/auth/patient/reset-password", status_code=204, tags=["auth"])
def reset_password(
    body: PasswordResetIn, request: Request, database: DatabaseDep, settings: AppSettings
) -> Response:
    """Set a new password with a ``reset`` code; every session of the account is signed out."""
    ip, ua = client_ip(request), user_agent(request)

    def work(db: Session) -> None:
        institution = institution_by_code(db, body.institution_code or institution_code(request))
        patient_service.reset_password(
            db,
            settings,
            institution,
            phone=body.phone,
            code=body.code,
            new_password=body.new_password,
            ip=ip,
            user_agent=ua,
        )

    _checking_secret(database, settings, work)
    return Response(status_code=204)


# --- profile ----------------------------------------------------------------------------------


def _profile_out(account: UserAccount) -> ProfileOut:
    return ProfileOut(
        user_id=account.id,
        display_name=account.display_name,
        phone=mask_phone(account.phone),
        created_at=account.created_at,
        last_login_at=account.last_login_at,
        password_set=account.password_hash is not None,
    )


@router.get("/me/profile", response_model=ProfileOut, tags=["patient"])
def get_profile(actor: PatientActor, db: ReadDb) -> ProfileOut:
    """The signed-in patient's profile (phone masked)."""
    return _profile_out(patient_service.load_profile(db, actor))


@router.patch("/me/profile", response_model=ProfileOut, tags=["patient"])
def patch_profile(body: ProfilePatchIn, actor: PatientActor, db: Db) -> ProfileOut:
    """Change the display name."""
    return _profile_out(patient_service.rename(db, actor, body.display_name))


# --- visitors ---------------------------------------------------------------------------------


def _insurance_out(visitor: Visitor) -> VisitorInsuranceOut | None:
    if visitor.insurance_bound_at is None or not visitor.insurance_type:
        return None
    return VisitorInsuranceOut(
        psn_no=visitor_service.mask_psn_no(visitor.insurance_psn_no) or "",
        insutype=visitor.insurance_type,
        insutype_name=INSURANCE_TYPES.get(visitor.insurance_type, visitor.insurance_type),
        area=visitor.insurance_area or "",
        bound_at=visitor.insurance_bound_at,
    )


def _visitor_out(visitor: Visitor) -> VisitorOut:
    age = visitor_service.today_age(visitor)
    binding = _insurance_out(visitor)
    return VisitorOut(
        id=visitor.id,
        relation=visitor.relation,
        name=mask_name(visitor.name) or "",
        id_number=mask_id_number(visitor.id_number) or "",
        phone=mask_phone(visitor.phone) or "",
        sex=visitor.sex,
        age=age.age,
        is_minor=age.is_minor,
        under_six=age.under_six,
        verified_at=visitor.verified_at,
        created_at=visitor.created_at,
        insurance_bound=binding is not None,
        insurance=binding,
    )


def _authority_unavailable() -> UpstreamFailed:
    return UpstreamFailed(
        "实名认证服务暂不可用，请稍后再试", "The real-name verification service is unavailable"
    )


def _realname_client(settings: Settings) -> RealNameClient:
    try:
        config = RealNameConfig.from_settings(settings)
    except RealNameUnavailable:
        raise visitor_service.authority_unavailable() from None
    return RealNameClient(jobs.runtime().http, config)


@router.get("/me/visitors", response_model=list[VisitorOut], tags=["patient"])
def list_visitors(actor: PatientActor, db: ReadDb) -> list[VisitorOut]:
    """The patient's visitors, masked (readable without consent: one's own data stays reachable)."""
    return [_visitor_out(v) for v in visitor_service.list_visitors(db, actor)]


@router.post("/me/visitors", response_model=VisitorOut, status_code=201, tags=["patient"])
def create_visitor(
    body: VisitorIn, actor: ConsentedPatient, database: DatabaseDep, settings: AppSettings
) -> VisitorOut:
    """Add a visitor after real-name verification (needs the current consent: BJ 5.5.1.1)."""
    draft = visitor_service.prepare(body.name, body.id_number, body.phone, body.relation)
    # Cheap refusals first: each authority call costs money and the authority is slow.
    with database.unit_of_work(write=False) as rdb:
        visitor_service.check_can_add(rdb, actor, draft)
    # No unit of work is open during the call: SQLite's write lock is not held while we wait.
    client = _realname_client(settings)
    try:
        verification = visitor_service.verify_identity(client, draft)
    except (visitor_service.RealNameMismatch, UpstreamFailed) as exc:
        audit.record_independent(
            database,
            actor.audit(),
            "visitor.realname_verify",
            resource_type="visitor",
            outcome="failure",
            detail={"reason": exc.code, "relation": draft.relation},
        )
        raise
    with database.unit_of_work(write=True) as db:
        visitor = visitor_service.add_visitor(db, actor, draft, verification)
        return _visitor_out(visitor)


@router.get("/me/visitors/{visitor_id}", response_model=VisitorOut, tags=["patient"])
def get_visitor(visitor_id: int, actor: PatientActor, db: ReadDb) -> VisitorOut:
    """One of the patient's visitors (another account's visitor is a 404)."""
    return _visitor_out(visitor_service.get_visitor(db, actor, visitor_id))


@router.delete("/me/visitors/{visitor_id}", status_code=204, tags=["patient"])
def delete_visitor(visitor_id: int, actor: PatientActor, db: Db) -> Response:
    """Remove a visitor from the patient's list."""
    visitor_service.remove_visitor(db, actor, visitor_id)
    return Response(status_code=204)


@router.post("/me/visitors/{visitor_id}/insurance", response_model=VisitorOut, tags=["patient"])
def bind_insurance(
    visitor_id: int,
    body: InsuranceBindIn,
    actor: ConsentedPatient,
    database: DatabaseDep,
    settings: AppSettings,
) -> VisitorOut:
    """Bind a visitor's 医保 (infno 1101 at the platform with the verified ID number and name)."""
    with database.unit_of_work(write=False) as rdb:
        visitor = visitor_service.get_visitor(rdb, actor, visitor_id)
        id_number, name = visitor.id_number, visitor.name
    # No unit of work is open during the platform call (as for the real-name authority).
    try:
        gateway = insurance.insurance_gateway(settings)
    except InsuranceError:
        raise insurance.platform_unavailable() from None
    try:
        person = insurance.find_person(gateway, id_number, name)
    except (insurance.PersonNotInsured, UpstreamFailed) as exc:
        audit.record_independent(
            database,
            actor.audit(),
            "visitor.insurance_bind",
            resource_type="visitor",
            resource_id=visitor_id,
            patient_id=visitor_id,
            outcome="failure",
            detail={"reason": exc.code},
        )
        raise
    with database.unit_of_work(write=True) as db:
        return _visitor_out(visitor_service.bind_insurance(db, actor, visitor_id, person))


@router.delete("/me/visitors/{visitor_id}/insurance", status_code=204, tags=["patient"])
def unbind_insurance(visitor_id: int, actor: PatientActor, db: Db) -> Response:
    """Unbind a visitor's 医保: later drug orders are self-pay (already priced ones keep their split)."""
    visitor_service.unbind_insurance(db, actor, visitor_id)
    return Response(status_code=204)
