"""Placeholder router — being implemented by a helper."""

from fastapi import APIRouter

router = APIRouter()
