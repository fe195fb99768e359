"""Visitors (就诊人): the account holder and the family members they act for, real-name verified.

BJ 5.5.1.1 / DOMAIN §1: every visitor's name, ID number and phone are checked by the real-name
authority before the visitor exists; the ID number is validated (GB 11643) first, and sex, birth
date, minor and under-six flags derive from it. A patient only ever sees their own visitors
(principle 5: the account filter is part of every query; another account's visitor is a 404).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from ihis.identity import idnumbers
from ihis.identity.access import Actor
from ihis.identity.models import UserAccount, Visitor
from ihis.integrations.insurance.protocol import PersonInsurance
from ihis.integrations.realname.protocol import RealNameUnavailable, RealNameVerifier, Verdict, Verification
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.platform.errors import Conflict, FieldError, InvalidInput, NotFound, UpstreamFailed

# One account manages at most this many visitors (self and family).
MAX_VISITORS_PER_ACCOUNT = 10
SELF = "self"

_ID_NUMBER_ERRORS = {
    "checksum": ("身份证号校验位不正确", "The ID number's check character is wrong"),
    "birth_date_in_future": ("身份证号中的出生日期不正确", "The birth date in the ID number is not valid"),
    "component": ("身份证号中的地区码或出生日期不正确", "The ID number's region or birth date is not valid"),
}


class RealNameMismatch(InvalidInput):
    """The authority says the name, ID number and phone do not belong together."""

    code = "realname_mismatch"


@dataclass(frozen=True)
class VisitorDraft:
    """A visitor that passed the local checks, waiting for the authority."""

    name: str
    id_number: str
    phone: str
    relation: str
    facts: idnumbers.IdNumberFacts

    @property
    def id_number_bidx(self) -> str:
        return blind_index(self.id_number, "id_number")


def prepare(name: str, id_number: str, phone: str, relation: str) -> VisitorDraft:
    """Validate the ID number (GB 11643) and derive birth date and sex; 422 naming ``body.id_number``."""
    try:
        facts = idnumbers.parse_id_number(id_number)
    except idnumbers.IdNumberInvalid as exc:
        zh, en = _ID_NUMBER_ERRORS.get(exc.reason, ("身份证号格式不正确", "The ID number is not valid"))
        raise InvalidInput.field("body.id_number", f"id_number_{exc.reason}", zh, en) from None
    return VisitorDraft(
        name=name.strip(), id_number=facts.id_number, phone=phone, relation=relation, facts=facts
    )


def _mine(actor: Actor) -> ColumnElement[bool]:
    """The filter of every visitor query: this account, this institution, not removed."""
    return and_(
        Visitor.account_id == actor.user_id,
        Visitor.institution_id == actor.institution_id,
        Visitor.removed_at.is_(None),
    )


def check_can_add(db: Session, actor: Actor, draft: VisitorDraft) -> None:
    """409 for a duplicate ID number, a second ``self`` or a full list (before asking the authority)."""
    rows = db.execute(select(Visitor.relation, Visitor.id_number_bidx).where(_mine(actor))).all()
    if any(bidx == draft.id_number_bidx for _, bidx in rows):
        raise Conflict(
            "该就诊人已添加", "This person is already one of your visitors", extra={"reason": "duplicate"}
        )
    if draft.relation == SELF and any(relation == SELF for relation, _ in rows):
        raise Conflict("已添加本人信息", "You already added yourself", extra={"reason": "self_exists"})
    if len(rows) >= MAX_VISITORS_PER_ACCOUNT:
        raise Conflict(
            f"最多添加 {MAX_VISITORS_PER_ACCOUNT} 位就诊人",
            f"At most {MAX_VISITORS_PER_ACCOUNT} visitors per account",
            extra={"reason": "limit"},
        )


def authority_unavailable() -> UpstreamFailed:
    return UpstreamFailed(
        "实名认证服务暂不可用，请稍后再试", "The real-name verification service is unavailable; try later"
    )


def verify_identity(verifier: RealNameVerifier, draft: VisitorDraft) -> Verification:
    """Ask the real-name authority; mismatch -> 422 ``realname_mismatch``, authority down -> 502."""
    try:
        verification = verifier.verify(draft.name, draft.id_number, draft.phone)
    except RealNameUnavailable:
        raise authority_unavailable() from None
    if verification.matched:
        return verification
    if verification.verdict is Verdict.MOBILE_MISMATCH:
        errors = [
            FieldError("body.phone", "realname_mismatch", "手机号与身份信息不一致", "Phone does not match")
        ]
    else:
        errors = [
            FieldError(
                "body.name", "realname_mismatch", "姓名与身份证号不一致", "Name and ID number do not match"
            ),
            FieldError(
                "body.id_number",
                "realname_mismatch",
                "姓名与身份证号不一致",
                "Name and ID number do not match",
            ),
        ]
    raise RealNameMismatch(
        "实名认证未通过：" + errors[0].message_zh,
        "Real-name verification failed: " + errors[0].message_en,
        errors=errors,
    )


def add_visitor(db: Session, actor: Actor, draft: VisitorDraft, verification: Verification) -> Visitor:
    """Store a verified visitor (a removed one with the same ID number comes back)."""
    # Lock the account row so that concurrent additions see each other (limit, one self, duplicates).
    db.execute(select(UserAccount.id).where(UserAccount.id == actor.user_id).with_for_update())
    check_can_add(db, actor, draft)
    now = utcnow()
    values = {
        "relation": draft.relation,
        "name": draft.name,
        "id_number": draft.id_number,
        "phone": draft.phone,
        "phone_bidx": blind_index(draft.phone, "phone"),
        "sex": draft.facts.sex,
        "birth_date": draft.facts.birth_date,
        "verified_at": now,
        "verification_ref": verification.order_no[:64] or None,
    }
    revived = db.execute(
        update(Visitor)
        .where(
            Visitor.account_id == actor.user_id,
            Visitor.institution_id == actor.institution_id,
            Visitor.id_number_bidx == draft.id_number_bidx,
            Visitor.removed_at.is_not(None),
        )
        .values(**values, removed_at=None, updated_at=now)
        .returning(Visitor.id)
    ).scalar_one_or_none()
    if revived is not None:
        visitor = get_visitor(db, actor, revived, audited=False)
        db.refresh(visitor)
    else:
        visitor = Visitor(
            institution_id=actor.institution_id,
            account_id=actor.user_id,
            id_number_bidx=draft.id_number_bidx,
            **values,
        )
        try:
            with db.begin_nested():
                db.add(visitor)
                db.flush()
        except IntegrityError:
            raise Conflict("该就诊人已添加", "This person is already one of your visitors") from None
    audit.record(
        db,
        actor.audit(),
        "visitor.create",
        resource_type="visitor",
        resource_id=visitor.id,
        patient_id=visitor.id,
        detail={"relation": draft.relation, "verification_ref": values["verification_ref"]},
    )
    return visitor


def list_visitors(db: Session, actor: Actor) -> list[Visitor]:
    """The caller's visitors (self first, then by creation); each read is audited."""
    rows = list(
        db.scalars(
            select(Visitor)
            .options(undefer(Visitor.id_number), undefer(Visitor.phone), undefer(Visitor.insurance_psn_no))
            .where(_mine(actor))
            .order_by((Visitor.relation != SELF), Visitor.id)
        )
    )
    for visitor in rows:
        audit.record(
            db,
            actor.audit(),
            "visitor.read",
            resource_type="visitor",
            resource_id=visitor.id,
            patient_id=visitor.id,
        )
    return rows


def get_visitor(db: Session, actor: Actor, visitor_id: int, *, audited: bool = True) -> Visitor:
    """One of the caller's visitors, or 404 (another account's visitor does not exist for them)."""
    visitor = db.scalar(
        select(Visitor)
        .options(undefer(Visitor.id_number), undefer(Visitor.phone), undefer(Visitor.insurance_psn_no))
        .where(Visitor.id == visitor_id, _mine(actor))
    )
    if visitor is None:
        raise NotFound("就诊人不存在", "Visitor not found")
    if audited:
        audit.record(
            db,
            actor.audit(),
            "visitor.read",
            resource_type="visitor",
            resource_id=visitor.id,
            patient_id=visitor.id,
        )
    return visitor


def remove_visitor(db: Session, actor: Actor, visitor_id: int) -> None:
    """Remove one of the caller's visitors (kept for the records that point at it)."""
    removed = db.execute(
        update(Visitor)
        .where(Visitor.id == visitor_id, _mine(actor))
        .values(removed_at=utcnow(), updated_at=utcnow())
    )
    if not removed.rowcount:  # type: ignore[attr-defined]
        raise NotFound("就诊人不存在", "Visitor not found")
    audit.record(
        db,
        actor.audit(),
        "visitor.remove",
        resource_type="visitor",
        resource_id=visitor_id,
        patient_id=visitor_id,
    )


def today_age(visitor: Visitor, today: dt.date | None = None) -> idnumbers.AgeFacts:
    """Age, minor and under-six flags of a visitor today."""
    return idnumbers.age_facts(visitor.birth_date, today=today)


# --- 医保 binding (infno 1101) ----------------------------------------------------------------


def mask_psn_no(psn_no: str | None) -> str | None:
    """11010512345678901234 -> 110*************1234: the area's first 3 and the last 4 characters."""
    if not psn_no:
        return None
    if len(psn_no) < 12:
        return "*" * (len(psn_no) - 2) + psn_no[-2:]
    return psn_no[:3] + "*" * (len(psn_no) - 7) + psn_no[-4:]


def bind_insurance(db: Session, actor: Actor, visitor_id: int, person: PersonInsurance) -> Visitor:
    """Store the platform's answer on one of the caller's visitors (binding again refreshes it)."""
    now = utcnow()
    bound = db.execute(
        update(Visitor)
        .where(Visitor.id == visitor_id, _mine(actor))
        .values(
            insurance_psn_no=person.psn_no,
            insurance_type=person.insutype,
            insurance_area=person.insuplc_admdvs,
            insurance_bound_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not bound.rowcount:  # type: ignore[attr-defined]
        raise NotFound("就诊人不存在", "Visitor not found")
    # The person number is personal data: the audit keeps the scheme and area only.
    audit.record(
        db,
        actor.audit(),
        "visitor.insurance_bind",
        resource_type="visitor",
        resource_id=visitor_id,
        patient_id=visitor_id,
        detail={"insutype": person.insutype, "insuplc_admdvs": person.insuplc_admdvs},
    )
    visitor = get_visitor(db, actor, visitor_id, audited=False)
    db.refresh(visitor)
    return visitor


def unbind_insurance(db: Session, actor: Actor, visitor_id: int) -> None:
    """Forget a visitor's 医保 binding (orders already priced keep their split); idempotent."""
    visitor = get_visitor(db, actor, visitor_id, audited=False)
    cleared = db.execute(
        update(Visitor)
        .where(Visitor.id == visitor.id, _mine(actor), Visitor.insurance_bound_at.is_not(None))
        .values(
            insurance_psn_no=None,
            insurance_type=None,
            insurance_area=None,
            insurance_bound_at=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if cleared.rowcount:  # type: ignore[attr-defined]
        audit.record(
            db,
            actor.audit(),
            "visitor.insurance_unbind",
            resource_type="visitor",
            resource_id=visitor.id,
            patient_id=visitor.id,
        )


def insured_number(db: Session, visitor_id: int) -> str | None:
    """The bound person number (人员编号) of a visitor, for the insurance split and settlement."""
    row = db.execute(
        select(Visitor.insurance_psn_no, Visitor.insurance_bound_at).where(Visitor.id == visitor_id)
    ).one_or_none()
    if row is None or row.insurance_bound_at is None or not row.insurance_psn_no:
        return None
    return str(row.insurance_psn_no)
