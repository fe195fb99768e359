"""Console endpoints of operations: campuses, departments, subjects, prices, disclosure."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ihis.organization import service
from ihis.organization.deps import DisclosureManager, OrgManager, OrgReader
from ihis.organization.models import DisclosureKey
from ihis.organization.schemas import (
    CampusIn,
    CampusOut,
    DepartmentIn,
    DepartmentOut,
    DisclosureIn,
    DisclosureOut,
    ServicePriceIn,
    ServicePriceOut,
    SubjectOut,
)
from ihis.platform.http import Db, ReadDb

router = APIRouter(prefix="/admin", tags=["organization"])


# --- campuses --------------------------------------------------------------------------------


@router.get("/campuses", response_model=list[CampusOut])
def list_campuses(actor: OrgReader, db: ReadDb) -> list[CampusOut]:
    """The institution's campuses."""
    return [CampusOut.model_validate(c) for c in service.list_campuses(db, actor)]


@router.post("/campuses", response_model=CampusOut, status_code=201)
def create_campus(body: CampusIn, actor: OrgManager, db: Db) -> CampusOut:
    """Add a campus."""
    return CampusOut.model_validate(service.create_campus(db, actor, body))


@router.get("/campuses/{campus_id}", response_model=CampusOut)
def get_campus(campus_id: int, actor: OrgReader, db: ReadDb) -> CampusOut:
    return CampusOut.model_validate(service.get_campus(db, actor, campus_id))


@router.put("/campuses/{campus_id}", response_model=CampusOut)
def update_campus(campus_id: int, body: CampusIn, actor: OrgManager, db: Db) -> CampusOut:
    """Replace a campus's details."""
    return CampusOut.model_validate(service.update_campus(db, actor, campus_id, body))


@router.delete("/campuses/{campus_id}", status_code=204)
def delete_campus(campus_id: int, actor: OrgManager, db: Db) -> Response:
    """Remove a campus without departments."""
    service.delete_campus(db, actor, campus_id)
    return Response(status_code=204)


# --- departments -----------------------------------------------------------------------------


@router.get("/departments", response_model=list[DepartmentOut])
def list_departments(
    actor: OrgReader, db: ReadDb, enabled: bool | None = None, campus_id: int | None = None
) -> list[DepartmentOut]:
    """All departments, enabled or not, in display order."""
    rows = service.list_departments(db, actor, enabled=enabled, campus_id=campus_id)
    return [DepartmentOut.model_validate(d) for d in rows]


@router.post("/departments", response_model=DepartmentOut, status_code=201)
def create_department(body: DepartmentIn, actor: OrgManager, db: Db) -> DepartmentOut:
    """Open a department under a registered 诊疗科目 (others are refused, naming the code)."""
    return DepartmentOut.model_validate(service.create_department(db, actor, body))


@router.get("/departments/{department_id}", response_model=DepartmentOut)
def get_department(department_id: int, actor: OrgReader, db: ReadDb) -> DepartmentOut:
    return DepartmentOut.model_validate(service.get_department(db, actor, department_id))


@router.put("/departments/{department_id}", response_model=DepartmentOut)
def update_department(department_id: int, body: DepartmentIn, actor: OrgManager, db: Db) -> DepartmentOut:
    """Replace a department's details."""
    return DepartmentOut.model_validate(service.update_department(db, actor, department_id, body))


@router.post("/departments/{department_id}/enable", response_model=DepartmentOut)
def enable_department(department_id: int, actor: OrgManager, db: Db) -> DepartmentOut:
    return DepartmentOut.model_validate(service.set_department_enabled(db, actor, department_id, True))


@router.post("/departments/{department_id}/disable", response_model=DepartmentOut)
def disable_department(department_id: int, actor: OrgManager, db: Db) -> DepartmentOut:
    """Take a department offline (its doctors leave the public directory)."""
    return DepartmentOut.model_validate(service.set_department_enabled(db, actor, department_id, False))


@router.delete("/departments/{department_id}", status_code=204)
def delete_department(department_id: int, actor: OrgManager, db: Db) -> Response:
    """Remove a department nobody belongs to."""
    service.delete_department(db, actor, department_id)
    return Response(status_code=204)


@router.get("/subjects", response_model=list[SubjectOut])
def list_subjects(actor: OrgReader, db: ReadDb) -> list[SubjectOut]:
    """The 诊疗科目 catalogue, each flagged whether the institution registered it."""
    return [SubjectOut(**vars(s)) for s in service.subject_catalogue(db, actor)]


# --- prices ----------------------------------------------------------------------------------


@router.get("/service-prices", response_model=list[ServicePriceOut])
def list_prices(actor: OrgReader, db: ReadDb) -> list[ServicePriceOut]:
    """Prices by title and service mode, in fen."""
    return [ServicePriceOut.model_validate(p) for p in service.list_prices(db, actor)]


@router.put("/service-prices", response_model=ServicePriceOut)
def set_price(body: ServicePriceIn, actor: OrgManager, db: Db) -> ServicePriceOut:
    """Set the price of one mode for one title."""
    return ServicePriceOut.model_validate(service.set_price(db, actor, body))


@router.delete("/service-prices/{price_id}", status_code=204)
def delete_price(price_id: int, actor: OrgManager, db: Db) -> Response:
    service.delete_price(db, actor, price_id)
    return Response(status_code=204)


# --- disclosure ------------------------------------------------------------------------------


@router.get("/disclosure", response_model=list[DisclosureOut])
def list_disclosure(actor: DisclosureManager, db: ReadDb) -> list[DisclosureOut]:
    """Every disclosure item of BJ 5.6.4.1 (empty until written)."""
    return [DisclosureOut(**vars(v)) for v in service.disclosure_items(db, actor.institution_id)]


@router.get("/disclosure/{key}", response_model=DisclosureOut)
def get_disclosure(key: DisclosureKey, actor: DisclosureManager, db: ReadDb) -> DisclosureOut:
    return DisclosureOut(**vars(service.disclosure_item(db, actor.institution_id, key)))


@router.put("/disclosure/{key}", response_model=DisclosureOut)
def set_disclosure(key: DisclosureKey, body: DisclosureIn, actor: DisclosureManager, db: Db) -> DisclosureOut:
    """Write one disclosure item."""
    return DisclosureOut(**vars(service.set_disclosure(db, actor, key, body)))
