"""Factories for the patient end: ID numbers, consent, visitors, sandbox SMS and identities.

doc = make_consent(db, inst)                  # the consent document in force
patient = make_consented_patient(db, inst)    # a patient who accepted it
code = last_sms_code(db, "13900001111")       # what the sandbox provider delivered
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from stdnum.cn import ric

from ihis.identity.models import ConsentAcceptance, ConsentDocument, SmsCode, UserAccount, Visitor
from ihis.integrations.realname.sandbox import seed_sandbox_identities
from ihis.integrations.sms.models import SandboxSmsMessage
from ihis.platform.clock import local_today, utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.tenancy.models import Institution
from tests.factories import make_patient

_seq = itertools.count(500)
CONSENT_BODY = "一、本院仅为常见病、慢性病复诊患者提供互联网诊疗服务。\n二、急危重症请立即线下就医。"


def make_id_number(birth: dt.date, *, male: bool, region: str = "110105", seq: int | None = None) -> str:
    """A checksum-valid GB 11643 number (the 17th digit is odd for men)."""
    n = next(_seq) if seq is None else seq
    order = (n * 2 + (1 if male else 0)) % 1000
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


def years_ago(years: int, days: int = 0) -> dt.date:
    """A birth date ``years`` full years before today (minus ``days`` more)."""
    today = local_today()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        day = today.replace(year=today.year - years, day=28)
    return day - dt.timedelta(days=days)


_phone_seq = itertools.count(1)


def new_phone(prefix: str = "1370") -> str:
    """A fresh, valid mainland mobile number."""
    n = next(_phone_seq)
    return f"{prefix}{n:0{11 - len(prefix)}d}"


def seed_person(db: Session, name: str, id_number: str, phone: str) -> dict[str, str]:
    """Teach the sandbox authority one synthetic person; returns the visitor request body."""

    class _P:
        pass

    person = _P()
    person.name, person.id_number, person.phone = name, id_number, phone  # type: ignore[attr-defined]
    seed_sandbox_identities(db, [person])  # type: ignore[list-item]
    db.commit()
    return {"name": name, "id_number": id_number, "phone": phone}


def make_consent(
    db: Session,
    inst: Institution,
    *,
    version: str | None = None,
    body: str = CONSENT_BODY,
    effective_at: dt.datetime | None = None,
) -> ConsentDocument:
    doc = ConsentDocument(
        institution_id=inst.id,
        kind="internet_service",
        version=version or f"v{next(_seq)}",
        title="互联网诊疗服务知情同意书",
        body=body,
        body_hash=hashlib.sha256(body.encode()).hexdigest(),
        effective_at=effective_at or utcnow() - dt.timedelta(minutes=1),
        created_at=utcnow(),
    )
    db.add(doc)
    db.flush()
    db.commit()
    return doc


def accept(db: Session, account: UserAccount, doc: ConsentDocument) -> None:
    db.add(
        ConsentAcceptance(
            institution_id=account.institution_id,
            account_id=account.id,
            document_id=doc.id,
            version=doc.version,
            text_hash=doc.body_hash,
            accepted_at=utcnow(),
        )
    )
    db.flush()
    db.commit()


def make_consented_patient(db: Session, inst: Institution, **kw: Any) -> UserAccount:
    """A patient who accepted the consent in force (created if the institution has none)."""
    doc = db.scalar(
        select(ConsentDocument)
        .where(ConsentDocument.institution_id == inst.id, ConsentDocument.effective_at <= utcnow())
        .order_by(ConsentDocument.effective_at.desc())
        .limit(1)
    ) or make_consent(db, inst)
    patient = make_patient(db, inst, **kw)
    accept(db, patient, doc)
    return patient


def make_visitor(
    db: Session,
    account: UserAccount,
    *,
    name: str = "李四",
    relation: str = "self",
    birth: dt.date | None = None,
    male: bool = True,
    phone: str | None = None,
) -> Visitor:
    """A verified visitor stored directly (no authority call)."""
    birth = birth or dt.date(1980, 1, 1)
    id_number = make_id_number(birth, male=male)
    phone = phone or new_phone()
    visitor = Visitor(
        institution_id=account.institution_id,
        account_id=account.id,
        relation=relation,
        name=name,
        id_number=id_number,
        id_number_bidx=blind_index(id_number, "id_number"),
        phone=phone,
        phone_bidx=blind_index(phone, "phone"),
        sex=1 if male else 2,
        birth_date=birth,
        verified_at=utcnow(),
        verification_ref="factory",
    )
    db.add(visitor)
    db.flush()
    db.commit()
    return visitor


def sandbox_messages(db: Session, phone: str) -> list[SandboxSmsMessage]:
    """What the sandbox SMS provider received for ``phone``, oldest first."""
    db.expire_all()
    return list(
        db.scalars(
            select(SandboxSmsMessage).where(SandboxSmsMessage.phone == phone).order_by(SandboxSmsMessage.id)
        )
    )


def last_sms_code(db: Session, phone: str) -> str:
    """The 6-digit code of the newest delivered message to ``phone``."""
    delivered = [m for m in sandbox_messages(db, phone) if m.code == "OK"]
    assert delivered, f"no SMS delivered to {phone}"
    found = re.search(r"验证码为(\d{6})", delivered[-1].text)
    assert found, delivered[-1].text
    return found.group(1)


def age_sms_codes(db: Session, phone: str, *, seconds: float) -> None:
    """Move every code of ``phone`` ``seconds`` into the past (send limits, expiry) instead of sleeping."""
    shift = dt.timedelta(seconds=seconds)
    for row in db.scalars(select(SmsCode).where(SmsCode.phone_bidx == blind_index(phone, "phone"))):
        row.created_at = row.created_at - shift
        row.expires_at = row.expires_at - shift
    db.flush()
    db.commit()


def expire_sms_codes(db: Session, phone: str) -> None:
    """Make every code of ``phone`` already expired (expiry moved back, creation untouched)."""
    db.execute(
        update(SmsCode)
        .where(SmsCode.phone_bidx == blind_index(phone, "phone"))
        .values(expires_at=utcnow() - dt.timedelta(seconds=1))
    )
    db.commit()
