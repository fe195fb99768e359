"""The organization domain's HTTP surface (mounted under ``/api/v1``)."""

from __future__ import annotations

from fastapi import APIRouter

from ihis.organization.admin_api import router as admin_router
from ihis.organization.profile_api import router as profile_router
from ihis.organization.public_api import router as public_router

router = APIRouter()
router.include_router(admin_router)
router.include_router(profile_router)
router.include_router(public_router)
