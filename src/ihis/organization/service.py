"""The institution's structure: campuses, departments (under registered 诊疗科目), prices, disclosure.

Every function works inside the actor's institution: rows of another institution are not found.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.organization.models import (
    Campus,
    Department,
    DisclosureItem,
    DisclosureKey,
    ServicePrice,
    StaffProfile,
)
from ihis.organization.schemas import CampusIn, DepartmentIn, DisclosureIn, ServicePriceIn
from ihis.organization.subjects import SUBJECTS, subject_name
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.tenancy.models import Institution

DISCLOSURE_TITLES: dict[DisclosureKey, str] = {
    DisclosureKey.DOCTOR_LOOKUP: "医师信息查询渠道",
    DisclosureKey.APPROVED_SUBJECTS: "批准开展的诊疗科目",
    DisclosureKey.SERVICES_PROCESS: "诊疗服务项目、内容与流程",
    DisclosureKey.DOCTORS_ON_DUTY: "诊疗服务方式及出诊医师",
    DisclosureKey.PRICES: "诊疗服务、常用药品和主要医用耗材价格",
    DisclosureKey.COMPLAINTS: "医疗纠纷处理与投诉渠道",
    DisclosureKey.CONVENIENCE: "便民服务措施",
    DisclosureKey.BOOKING_RULES: "预约挂号规则与号源",
    DisclosureKey.STOP_NOTICES: "停诊与替诊信息",
}


def upsert(db: Session, table: Table, values: dict[str, Any], keys: list[str], updates: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE: one statement, safe under concurrent writers."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in updates})
    db.execute(stmt)


def _institution(db: Session, actor: Actor) -> Institution:
    inst = db.get(Institution, actor.institution_id)
    if inst is None:  # the actor's own institution always exists; guard against a deleted one
        raise NotFound()
    return inst


# --- campuses --------------------------------------------------------------------------------


def list_campuses(db: Session, actor: Actor) -> list[Campus]:
    """The institution's campuses, by name."""
    return list(
        db.scalars(select(Campus).where(Campus.institution_id == actor.institution_id).order_by(Campus.id))
    )


def get_campus(db: Session, actor: Actor, campus_id: int) -> Campus:
    campus = db.scalar(
        select(Campus).where(Campus.id == campus_id, Campus.institution_id == actor.institution_id)
    )
    if campus is None:
        raise NotFound("院区不存在", "Campus not found")
    return campus


def _campus_name_free(db: Session, actor: Actor, name: str, except_id: int | None = None) -> None:
    stmt = select(Campus.id).where(Campus.institution_id == actor.institution_id, Campus.name == name)
    if except_id is not None:
        stmt = stmt.where(Campus.id != except_id)
    if db.scalar(stmt) is not None:
        raise InvalidInput.field(
            "body.name", "name_taken", "院区名称已存在", "A campus with this name exists"
        )


def create_campus(db: Session, actor: Actor, data: CampusIn) -> Campus:
    """Add a campus."""
    _campus_name_free(db, actor, data.name)
    campus = Campus(institution_id=actor.institution_id, **data.model_dump())
    db.add(campus)
    db.flush()
    audit.record(db, actor.audit(), "campus.create", resource_type="campus", resource_id=campus.id)
    return campus


def update_campus(db: Session, actor: Actor, campus_id: int, data: CampusIn) -> Campus:
    """Replace a campus's name, address, phone and enabled flag."""
    campus = get_campus(db, actor, campus_id)
    _campus_name_free(db, actor, data.name, except_id=campus.id)
    for field, value in data.model_dump().items():
        setattr(campus, field, value)
    db.flush()
    audit.record(db, actor.audit(), "campus.update", resource_type="campus", resource_id=campus.id)
    return campus


def delete_campus(db: Session, actor: Actor, campus_id: int) -> None:
    """Remove a campus that no department belongs to."""
    campus = get_campus(db, actor, campus_id)
    if db.scalar(select(exists().where(Department.campus_id == campus.id))):
        raise Conflict("院区下仍有科室，不能删除", "The campus still has departments")
    db.delete(campus)
    db.flush()
    audit.record(db, actor.audit(), "campus.delete", resource_type="campus", resource_id=campus_id)


# --- departments -----------------------------------------------------------------------------


def list_departments(
    db: Session, actor: Actor, *, enabled: bool | None = None, campus_id: int | None = None
) -> list[Department]:
    """The institution's departments in display order."""
    stmt = select(Department).where(Department.institution_id == actor.institution_id)
    if enabled is not None:
        stmt = stmt.where(Department.enabled.is_(enabled))
    if campus_id is not None:
        stmt = stmt.where(Department.campus_id == campus_id)
    return list(db.scalars(stmt.order_by(Department.sort_order, Department.id)))


def get_department(db: Session, actor: Actor, department_id: int) -> Department:
    dept = db.scalar(
        select(Department).where(
            Department.id == department_id, Department.institution_id == actor.institution_id
        )
    )
    if dept is None:
        raise NotFound("科室不存在", "Department not found")
    return dept


def _checked_subject(inst: Institution, code: str, given_name: str | None) -> str:
    """The subject's name, if the institution registered the code (BJ 5.6.1.1)."""
    if code not in inst.subject_codes():
        raise InvalidInput.field(
            "body.subject_code",
            "subject_not_registered",
            f"诊疗科目 {code} 不在本机构登记的诊疗科目范围内",
            f"Subject {code} is not among the institution's registered subjects",
        )
    name = subject_name(code) or given_name
    if not name:
        raise InvalidInput.field(
            "body.subject_name", "subject_name_required", "请填写诊疗科目名称", "Enter the subject's name"
        )
    return name


def _check_department_refs(
    db: Session, actor: Actor, data: DepartmentIn, except_id: int | None = None
) -> None:
    if data.campus_id is not None:
        found = db.scalar(
            select(Campus.id).where(
                Campus.id == data.campus_id, Campus.institution_id == actor.institution_id
            )
        )
        if found is None:
            raise InvalidInput.field("body.campus_id", "campus_not_found", "院区不存在", "Campus not found")
    stmt = select(Department.id).where(
        Department.institution_id == actor.institution_id, Department.name == data.name
    )
    if except_id is not None:
        stmt = stmt.where(Department.id != except_id)
    if db.scalar(stmt) is not None:
        raise InvalidInput.field(
            "body.name", "name_taken", "科室名称已存在", "A department with this name exists"
        )


def create_department(db: Session, actor: Actor, data: DepartmentIn) -> Department:
    """Open a department under one of the institution's registered subjects."""
    name = _checked_subject(_institution(db, actor), data.subject_code, data.subject_name)
    _check_department_refs(db, actor, data)
    dept = Department(institution_id=actor.institution_id, enabled=True, **data.model_dump())
    dept.subject_name = name
    db.add(dept)
    db.flush()
    audit.record(db, actor.audit(), "department.create", resource_type="department", resource_id=dept.id)
    return dept


def update_department(db: Session, actor: Actor, department_id: int, data: DepartmentIn) -> Department:
    """Replace a department's description and subject (still within the registered subjects)."""
    dept = get_department(db, actor, department_id)
    name = _checked_subject(_institution(db, actor), data.subject_code, data.subject_name)
    _check_department_refs(db, actor, data, except_id=dept.id)
    for field, value in data.model_dump().items():
        setattr(dept, field, value)
    dept.subject_name = name
    db.flush()
    audit.record(db, actor.audit(), "department.update", resource_type="department", resource_id=dept.id)
    return dept


def set_department_enabled(db: Session, actor: Actor, department_id: int, enabled: bool) -> Department:
    """Enable or disable a department (idempotent; a change is audited)."""
    dept = get_department(db, actor, department_id)
    if enabled:
        # A department whose subject was deregistered since may not come back online.
        _checked_subject(_institution(db, actor), dept.subject_code, dept.subject_name)
    result = db.execute(
        update(Department)
        .where(Department.id == dept.id, Department.enabled.is_(not enabled))
        .values(enabled=enabled, updated_at=utcnow())
    )
    if result.rowcount:  # type: ignore[attr-defined]
        action = "department.enable" if enabled else "department.disable"
        audit.record(db, actor.audit(), action, resource_type="department", resource_id=dept.id)
    db.refresh(dept)
    return dept


def delete_department(db: Session, actor: Actor, department_id: int) -> None:
    """Remove a department no staff profile belongs to (otherwise disable it)."""
    dept = get_department(db, actor, department_id)
    if db.scalar(select(exists().where(StaffProfile.department_id == dept.id))):
        raise Conflict(
            "科室下仍有医护人员，请改为停用", "Staff belong to this department; disable it instead"
        )
    db.delete(dept)
    db.flush()
    audit.record(
        db, actor.audit(), "department.delete", resource_type="department", resource_id=department_id
    )


# --- subjects --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectEntry:
    code: str
    name: str | None
    parent_code: str | None
    registered: bool


def subject_catalogue(db: Session, actor: Actor) -> list[SubjectEntry]:
    """The 诊疗科目 catalogue, each marked whether the institution registered it."""
    registered = _institution(db, actor).subject_codes()
    known = [SubjectEntry(s.code, s.name, s.parent_code, s.code in registered) for s in SUBJECTS]
    listed = {s.code for s in SUBJECTS}
    extra = [
        SubjectEntry(code, None, code.split(".")[0] if "." in code else None, True)
        for code in sorted(registered - listed)
    ]
    return known + extra


# --- service prices --------------------------------------------------------------------------


def list_prices(db: Session, actor: Actor) -> list[ServicePrice]:
    """Prices by title and mode."""
    return list(
        db.scalars(
            select(ServicePrice)
            .where(ServicePrice.institution_id == actor.institution_id)
            .order_by(ServicePrice.title, ServicePrice.mode)
        )
    )


def set_price(db: Session, actor: Actor, data: ServicePriceIn) -> ServicePrice:
    """Set the price of one mode for one title (BJ 5.6.1.1 职称信息管理)."""
    now = utcnow()
    upsert(
        db,
        ServicePrice.__table__,  # type: ignore[arg-type]
        {
            "institution_id": actor.institution_id,
            "title": data.title,
            "mode": data.mode.value,
            "price_fen": data.price_fen,
            "updated_by": actor.user_id,
            "created_at": now,
            "updated_at": now,
        },
        keys=["institution_id", "title", "mode"],
        updates=["price_fen", "updated_by", "updated_at"],
    )
    price = db.scalars(
        select(ServicePrice)
        .where(
            ServicePrice.institution_id == actor.institution_id,
            ServicePrice.title == data.title,
            ServicePrice.mode == data.mode.value,
        )
        .execution_options(populate_existing=True)
    ).one()
    audit.record(
        db,
        actor.audit(),
        "service_price.set",
        resource_type="service_price",
        resource_id=price.id,
        detail={"title": data.title, "mode": data.mode.value, "price_fen": data.price_fen},
    )
    return price


def delete_price(db: Session, actor: Actor, price_id: int) -> None:
    """Remove a title's price for a mode (that mode is then unbookable unless overridden)."""
    price = db.scalar(
        select(ServicePrice).where(
            ServicePrice.id == price_id, ServicePrice.institution_id == actor.institution_id
        )
    )
    if price is None:
        raise NotFound("价格不存在", "Price not found")
    db.delete(price)
    db.flush()
    audit.record(
        db, actor.audit(), "service_price.delete", resource_type="service_price", resource_id=price_id
    )


# --- disclosure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisclosureView:
    key: DisclosureKey
    title: str
    body: str
    updated_by: int | None
    updated_at: dt.datetime | None


def disclosure_items(db: Session, institution_id: int) -> list[DisclosureView]:
    """Every disclosure item in the order of BJ 5.6.4.1; items never written have an empty body."""
    rows = {
        row.key: row
        for row in db.scalars(
            select(DisclosureItem)
            .where(DisclosureItem.institution_id == institution_id)
            .execution_options(populate_existing=True)
        )
    }
    views = []
    for key in DisclosureKey:
        row = rows.get(key.value)
        if row is None:
            views.append(DisclosureView(key, DISCLOSURE_TITLES[key], "", None, None))
        else:
            views.append(DisclosureView(key, row.title, row.body, row.updated_by, row.updated_at))
    return views


def disclosure_item(db: Session, institution_id: int, key: DisclosureKey) -> DisclosureView:
    return next(v for v in disclosure_items(db, institution_id) if v.key == key)


def set_disclosure(db: Session, actor: Actor, key: DisclosureKey, data: DisclosureIn) -> DisclosureView:
    """Write one disclosure item (BJ 5.6.4.1), recording who changed it and when."""
    upsert(
        db,
        DisclosureItem.__table__,  # type: ignore[arg-type]
        {
            "institution_id": actor.institution_id,
            "key": key.value,
            "title": data.title,
            "body": data.body,
            "updated_by": actor.user_id,
            "updated_at": utcnow(),
        },
        keys=["institution_id", "key"],
        updates=["title", "body", "updated_by", "updated_at"],
    )
    audit.record(
        db, actor.audit(), "disclosure.update", resource_type="disclosure_item", resource_id=key.value
    )
    return disclosure_item(db, actor.institution_id, key)
