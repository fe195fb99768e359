"""The simulators of outside systems, served by this process when ``settings.sandbox`` is on.

``create_app`` includes ``router`` only in sandbox mode, so none of these paths exists in a
production deployment. Each simulator speaks its real system's protocol under ``/sandbox/...``.
(The console page that reads the sandbox SMS outbox is a staff endpoint: ``ihis.sandboxes.api``.)
"""

from __future__ import annotations

from fastapi import APIRouter

from ihis.integrations.ca.sandbox import router as ca_router
from ihis.integrations.his.sandbox import router as his_router
from ihis.integrations.insurance.sandbox import router as insurance_router
from ihis.integrations.logistics.sandbox import router as courier_router
from ihis.integrations.payment.sandbox import router as payment_router
from ihis.integrations.realname.sandbox import router as realname_router
from ihis.integrations.sms.sandbox import router as sms_router
from ihis.integrations.supplier.sandbox import router as supplier_router
from ihis.integrations.tsa.sandbox import router as tsa_router

router = APIRouter()
router.include_router(sms_router)
router.include_router(realname_router)
router.include_router(his_router)
router.include_router(payment_router)
router.include_router(ca_router)
router.include_router(tsa_router)
router.include_router(courier_router)
router.include_router(insurance_router)
router.include_router(supplier_router)
