"""Prescribing tests: billing, HIS, signing (sandbox CA/TSA) and the prescribing routers are mounted."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.factories_billing import mount_billing
from tests.factories_his import ensure_his_routes
from tests.factories_prescribing import mount_prescribing
from tests.factories_signing import mount_signing


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_prescribing(mount_signing(mount_billing(ensure_his_routes(app))))
