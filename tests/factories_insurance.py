"""Factories for 医保 binding: visitors whose ID number the sandbox platform knows (or does not), and
binding through the patient API.

The sandbox's 1101 knows every resident ID number whose order code (顺序码) is below 900
(``integrations.insurance.sandbox.UNKNOWN_PERSON_ORDER_CODE``); ``make_id_number(seq=s)`` writes the
order code ``2s + male``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount, Visitor
from ihis.platform.clock import utcnow
from ihis.platform.crypto.fields import blind_index
from tests.factories_patient import make_id_number, new_phone

INSURED_SEQ = 10  # order code 020/021
UNKNOWN_SEQ = 460  # order code 920/921: the platform finds nobody


def insured_id_number(
    birth: dt.date = dt.date(1980, 1, 1), *, male: bool = True, seq: int = INSURED_SEQ
) -> str:
    return make_id_number(birth, male=male, seq=seq)


def visitor_for(
    db: Session,
    account: UserAccount,
    *,
    seq: int = INSURED_SEQ,
    birth: dt.date = dt.date(1980, 1, 1),
    name: str = "李建国",
    relation: str = "self",
) -> Visitor:
    """A verified visitor stored directly, with a chosen order code."""
    id_number = make_id_number(birth, male=True, seq=seq)
    phone = new_phone()
    visitor = Visitor(
        institution_id=account.institution_id,
        account_id=account.id,
        relation=relation,
        name=name,
        id_number=id_number,
        id_number_bidx=blind_index(id_number, "id_number"),
        phone=phone,
        phone_bidx=blind_index(phone, "phone"),
        sex=1,
        birth_date=birth,
        verified_at=utcnow(),
    )
    db.add(visitor)
    db.flush()
    db.commit()
    return visitor


def make_known(db: Session, visitor: Visitor, seq: int = INSURED_SEQ) -> None:
    """Give an existing visitor an ID number the sandbox platform knows as insured."""
    id_number = make_id_number(visitor.birth_date, male=True, seq=seq)
    db.execute(
        update(Visitor)
        .where(Visitor.id == visitor.id)
        .values(id_number=id_number, id_number_bidx=blind_index(id_number, "id_number"))
    )
    db.commit()


def bind(client: TestClient, visitor_id: int, *, expect: int = 200) -> dict[str, Any]:
    """The (logged-in) patient binds 医保 for one of their visitors."""
    answer = client.post(f"/api/v1/me/visitors/{visitor_id}/insurance", json={"agree": True})
    assert answer.status_code == expect, answer.text
    return answer.json()  # type: ignore[no-any-return]
