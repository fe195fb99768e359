"""Factories for billing and payments: bills, paid bills, the sandbox channels' notifies.

bill = make_bill(db, patient, amount_fen=5000)
app fixture: ``from tests.factories_billing import billing_app  # noqa: F401`` mounts billing's
routers and the payment simulators if the application does not include them yet.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.billing import service
from ihis.billing.models import Bill, PaymentAttempt
from ihis.identity.models import UserAccount
from ihis.platform.clock import utcnow

_seq = itertools.count(1)


def mount_billing(application: FastAPI) -> FastAPI:
    """Include billing's router (/api/v1) and the payment simulators (/sandbox) unless already there."""
    paths = {getattr(r, "path", "") for r in application.routes}
    if "/api/v1/me/bills" not in paths:
        from ihis.billing.api import router as billing_router

        application.include_router(billing_router, prefix="/api/v1")
    if "/sandbox/wechatpay/v3/pay/transactions/h5" not in paths:
        from ihis.integrations.payment.sandbox import router as payment_sandbox

        application.include_router(payment_sandbox)
    return application


@pytest.fixture(name="app")
def billing_app(app: FastAPI) -> FastAPI:
    """The test application with billing's routes (until the lead mounts them in create_app)."""
    return mount_billing(app)


def make_bill(
    db: Session,
    payer: UserAccount,
    *,
    amount_fen: int = 5000,
    kind: str = "registration",
    expires_in: dt.timedelta = dt.timedelta(minutes=15),
    **kw: Any,
) -> Bill:
    """An unpaid bill of ``payer`` (reference: a made-up registration number)."""
    bill = service.create_bill(
        db,
        institution_id=payer.institution_id,
        payer_account_id=payer.id,
        kind=kind,
        subject=kw.pop("subject", "心内科 复诊挂号"),
        reference_type=kw.pop("reference_type", "test"),
        reference_id=kw.pop("reference_id", f"T{next(_seq)}"),
        amount_fen=amount_fen,
        expires_at=utcnow() + expires_in,
        **kw,
    )
    db.commit()
    return bill


def attempt_of(db: Session, bill: Bill) -> PaymentAttempt:
    """The newest payment attempt of a bill."""
    db.expire_all()
    return db.scalars(
        select(PaymentAttempt).where(PaymentAttempt.bill_id == bill.id).order_by(PaymentAttempt.id.desc())
    ).first()  # type: ignore[return-value]
