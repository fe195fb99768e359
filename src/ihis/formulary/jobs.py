"""Formulary jobs: the periodic pull of every partner supplier's stock."""

from __future__ import annotations

import structlog
from huey import crontab
from sqlalchemy import select

from ihis.formulary.models import Pharmacy
from ihis.formulary.stock import sync_supplier
from ihis.platform.errors import IhisError
from ihis.platform.jobs import huey, runtime

log = structlog.get_logger(__name__)


def sync_all_suppliers() -> int:
    """Sync each active supplier pharmacy; one failing supplier does not stop the others."""
    ctx = runtime()
    with ctx.database.unit_of_work(write=False) as db:
        ids = list(
            db.scalars(select(Pharmacy.id).where(Pharmacy.kind == "supplier", Pharmacy.active.is_(True)))
        )
    synced = 0
    for pharmacy_id in ids:
        try:
            sync_supplier(ctx.database, pharmacy_id)
            synced += 1
        except IhisError as exc:
            log.warning("supplier_sync_failed", pharmacy_id=pharmacy_id, code=exc.code)
    return synced


@huey.periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def formulary_supplier_stock_sync() -> None:
    """Every ten minutes: pull partner suppliers' stock into drug_stock."""
    sync_all_suppliers()
