"""Editions of a code system per institution, and which one is current."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.coding.models import CodeEdition, CodeSystem
from ihis.platform.errors import Conflict, InvalidInput, NotFound

MAX_EDITION_NAME = 64


def parse_system(value: str, field: str = "path.system") -> CodeSystem:
    """A code system from a path or option value, or 422 naming ``field``."""
    try:
        return CodeSystem(value)
    except ValueError:
        names = ", ".join(s.value for s in CodeSystem)
        raise InvalidInput.field(
            field, "system_unknown", f"未知编码体系，可选：{names}", f"Unknown code system; one of: {names}"
        ) from None


def check_edition_name(name: str, field: str = "edition") -> str:
    """An edition name, stripped, 1-64 characters."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_EDITION_NAME:
        raise InvalidInput.field(
            field,
            "edition_invalid",
            f"版本名称须为 1–{MAX_EDITION_NAME} 个字符",
            f"The edition name must be 1-{MAX_EDITION_NAME} characters",
        )
    return name


def list_editions(db: Session, institution_id: int, system: CodeSystem) -> list[CodeEdition]:
    """The institution's editions of ``system``, current first, then newest import."""
    return list(
        db.scalars(
            select(CodeEdition)
            .where(CodeEdition.institution_id == institution_id, CodeEdition.system == system.value)
            .order_by(CodeEdition.is_current.desc(), CodeEdition.id.desc())
        )
    )


def get_edition(db: Session, institution_id: int, system: CodeSystem, edition_id: int) -> CodeEdition:
    """One edition of the institution, or 404 (another institution's editions do not exist here)."""
    edition = db.scalar(
        select(CodeEdition).where(
            CodeEdition.id == edition_id,
            CodeEdition.institution_id == institution_id,
            CodeEdition.system == system.value,
        )
    )
    if edition is None:
        raise NotFound("未找到该版本", "No such edition")
    return edition


def find_edition(db: Session, institution_id: int, system: CodeSystem, name: str) -> CodeEdition | None:
    """The edition called ``name``, if imported."""
    return db.scalar(
        select(CodeEdition).where(
            CodeEdition.institution_id == institution_id,
            CodeEdition.system == system.value,
            CodeEdition.name == name,
        )
    )


def current_edition(db: Session, institution_id: int, system: CodeSystem) -> CodeEdition | None:
    """The edition doctors of the institution search by default, if one is marked current."""
    return db.scalar(
        select(CodeEdition).where(
            CodeEdition.institution_id == institution_id,
            CodeEdition.system == system.value,
            CodeEdition.is_current.is_(True),
        )
    )


def edition_for_import(db: Session, institution_id: int, system: CodeSystem, name: str) -> CodeEdition:
    """The edition ``name`` of ``system``, created (not current) on its first import."""
    edition = find_edition(db, institution_id, system, name)
    if edition is not None:
        return edition
    edition = CodeEdition(institution_id=institution_id, system=system.value, name=name, is_current=False)
    try:
        with db.begin_nested():
            db.add(edition)
            db.flush()
    except IntegrityError:
        raise Conflict(
            "该版本正在被另一个导入创建", "The edition is being created by another import"
        ) from None
    return edition


def set_current(db: Session, institution_id: int, edition_id: int) -> None:
    """Make ``edition_id`` the current edition of its system (the previous one stops being current)."""
    edition = db.get(CodeEdition, edition_id)
    if edition is None or edition.institution_id != institution_id:
        raise NotFound("未找到该版本", "No such edition")
    # Guarded updates; the partial unique index refuses a second current edition if two race.
    db.execute(
        update(CodeEdition)
        .where(
            CodeEdition.institution_id == institution_id,
            CodeEdition.system == edition.system,
            CodeEdition.is_current.is_(True),
            CodeEdition.id != edition_id,
        )
        .values(is_current=False)
        .execution_options(synchronize_session=False)
    )
    try:
        with db.begin_nested():
            db.execute(
                update(CodeEdition)
                .where(CodeEdition.id == edition_id, CodeEdition.is_current.is_(False))
                .values(is_current=True)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        raise Conflict("另一个版本刚被设为当前版本", "Another edition was just made current") from None
    db.refresh(edition)
