"""Drug-order tests: drug orders, prescribing/signing (for the approval path), billing, courier mounted."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.factories_drug_orders import mount_drug_orders
from tests.factories_his import ensure_his_routes
from tests.factories_prescribing import mount_prescribing
from tests.factories_signing import mount_signing


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_drug_orders(mount_prescribing(mount_signing(ensure_his_routes(app))))
