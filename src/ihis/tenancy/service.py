"""Which institution a request is for."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.platform.errors import NotFound
from ihis.tenancy.models import Institution


def institution_by_code(db: Session, code: str) -> Institution:
    """The enabled institution with this code, or 404."""
    inst = db.scalar(select(Institution).where(Institution.code == code, Institution.enabled.is_(True)))
    if inst is None:
        raise NotFound(f"机构 {code} 不存在", f"Institution {code} not found")
    return inst
