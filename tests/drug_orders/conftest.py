"""Drug-order tests: drug orders, prescribing/signing (for the approval path), billing, courier mounted."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, delete, update

from ihis.billing.models import Bill, Refund
from ihis.consultation.models import Consultation
from ihis.drug_orders.models import AdverseReaction, DrugOrder, DrugOrderEvent, DrugOrderLine
from ihis.formulary.models import Drug, DrugRevision, DrugStock, Pharmacy, StockReservation
from ihis.platform import jobs
from ihis.platform.db import Database
from ihis.prescribing.models import Prescription, PrescriptionLine
from ihis.registration.models import EligibilityEvidence, Registration
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories_drug_orders import mount_drug_orders
from tests.factories_his import ensure_his_routes
from tests.factories_prescribing import mount_prescribing
from tests.factories_signing import mount_signing


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_drug_orders(mount_prescribing(mount_signing(ensure_his_routes(app))))


def _refuse(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


@pytest.fixture
def committed(base_settings: Settings, engine: Engine) -> Iterator[tuple[Database, dict[str, int]]]:
    """A Database that really commits (jobs bound to it, no outbound HTTP), for the concurrency tests
    (marked ``commits``); the rows of ``made["institution_id"]`` are removed afterwards."""
    database = Database(base_settings)
    jobs.configure(base_settings)
    jobs.bind_runtime(database, base_settings, httpx.Client(transport=httpx.MockTransport(_refuse)))
    made: dict[str, int] = {}
    try:
        yield database, made
    finally:
        jobs.unbind_runtime()
        with database.unit_of_work() as db:
            inst = made.get("institution_id", -1)
            for model in (
                AdverseReaction,
                DrugOrderEvent,
                DrugOrderLine,
                DrugOrder,
                Refund,
                Bill,
                PrescriptionLine,
                Prescription,
                Consultation,
                Registration,
                EligibilityEvidence,
                StockReservation,
                DrugStock,
                DrugRevision,
                Drug,
                Pharmacy,
            ):
                db.execute(delete(model).where(model.institution_id == inst))
            db.execute(
                update(ClinicSession).where(ClinicSession.institution_id == inst).values(status="stopped")
            )
        database.dispose()
