"""The same notify replayed 10 times concurrently changes state once (separate connections, real
commits, on SQLite and PostgreSQL alike); every replay still gets the channel's success answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from ihis.billing.models import Bill, ChannelTransaction, PaymentAttempt
from ihis.identity.models import UserAccount
from ihis.platform import jobs
from ihis.platform.db import Database
from ihis.platform.outbox import OutboxMessage
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.billing.test_notify import alipay_notify, awaiting_attempt, wechat_notify
from tests.factories import make_institution, make_patient
from tests.factories_billing import make_bill, mount_billing

pytestmark = pytest.mark.commits

REPLAYS = 10


@pytest.fixture
def committed(base_settings: Settings, engine: Engine) -> Iterator[tuple[Database, FastAPI, dict[str, int]]]:
    """An application on a Database that really commits; what the test made is removed afterwards."""
    from ihis.app import create_app

    database = Database(base_settings)
    application = mount_billing(create_app(base_settings, database=database))
    made: dict[str, int] = {}
    try:
        yield database, application, made
    finally:
        jobs.unbind_runtime()
        with database.unit_of_work() as db:
            bill_id = made.get("bill_id", -1)
            db.execute(delete(OutboxMessage).where(OutboxMessage.key == f"bill-{bill_id}"))
            db.execute(delete(ChannelTransaction).where(ChannelTransaction.bill_id == bill_id))
            db.execute(delete(PaymentAttempt).where(PaymentAttempt.bill_id == bill_id))
            db.execute(delete(Bill).where(Bill.id == bill_id))
            db.execute(delete(UserAccount).where(UserAccount.id == made.get("patient_id", -1)))
            db.execute(delete(Institution).where(Institution.id == made.get("institution_id", -1)))
        database.dispose()


def _replay(application: FastAPI, path: str, body: str, headers: dict[str, str]) -> list[tuple[int, bytes]]:
    barrier = threading.Barrier(REPLAYS)

    def one(_: int) -> tuple[int, bytes]:
        client = TestClient(application, base_url="http://testserver")
        barrier.wait(timeout=30)
        answer = client.post(path, content=body, headers=headers)
        return answer.status_code, answer.content

    with ThreadPoolExecutor(REPLAYS) as pool:
        return list(pool.map(one, range(REPLAYS)))


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_ten_concurrent_replays_of_one_notify_change_state_once(
    committed: tuple[Database, FastAPI, dict[str, int]], channel: str
) -> None:
    database, application, made = committed
    with database.unit_of_work() as db:
        inst = make_institution(db)
        patient = make_patient(db, inst, password=None)
        bill = make_bill(db, patient, amount_fen=12300)
        attempt = awaiting_attempt(db, bill, channel)
        made.update(institution_id=inst.id, patient_id=patient.id, bill_id=bill.id)
        if channel == "wechat":
            headers, body = wechat_notify(db, attempt, txn="4200009" + str(bill.id))
        else:
            headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
            body = alipay_notify(db, attempt, txn="2026112122009" + str(bill.id))

    answers = _replay(application, f"/api/v1/payments/notify/{channel}", body, headers)

    expected = (204, b"") if channel == "wechat" else (200, b"success")
    assert answers == [expected] * REPLAYS
    with database.unit_of_work(write=False) as db:
        stored = db.get(Bill, made["bill_id"])
        assert stored is not None and stored.status == "paid"
        assert stored.version == 2  # exactly one transition
        assert (
            db.scalar(
                select(func.count())
                .select_from(ChannelTransaction)
                .where(ChannelTransaction.bill_id == stored.id)
            )
            == 1
        )
        assert (
            db.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.topic == "billing.bill_paid.test", OutboxMessage.key == f"bill-{stored.id}"
                )
            )
            == 1
        )
