"""The public directory of the patient end (no login): hospital, departments, doctors, disclosure.

The institution comes from the ``X-IHIS-Institution`` header (else the configured default).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ihis.organization import directory_service
from ihis.organization.deps import PublicInstitution
from ihis.organization.directory_service import DoctorFilter
from ihis.organization.models import ServiceMode
from ihis.organization.public_schemas import (
    PublicDepartment,
    PublicDepartmentDetail,
    PublicDisclosureItem,
    PublicDoctorDetail,
    PublicDoctorPage,
)
from ihis.organization.public_schemas import PublicInstitution as PublicInstitutionOut
from ihis.platform.http import ReadDb, Storage

router = APIRouter(prefix="/public", tags=["public-directory"])


@router.get("/institution", response_model=PublicInstitutionOut)
def institution(inst: PublicInstitution, db: ReadDb) -> PublicInstitutionOut:
    """The hospital: name, introduction, address, campuses and registered 诊疗科目."""
    return directory_service.institution(db, inst)


@router.get("/departments", response_model=list[PublicDepartment])
def departments(inst: PublicInstitution, db: ReadDb, campus_id: int | None = None) -> list[PublicDepartment]:
    """Departments open online."""
    return directory_service.departments(db, inst, campus_id)


@router.get("/departments/{department_id}", response_model=PublicDepartmentDetail)
def department(department_id: int, inst: PublicInstitution, db: ReadDb) -> PublicDepartmentDetail:
    """One department's page (概况、诊疗范围、优势和特色) with its doctors."""
    return directory_service.department(db, inst, department_id)


@router.get("/doctors", response_model=PublicDoctorPage)
def doctors(
    inst: PublicInstitution,
    db: ReadDb,
    department_id: int | None = None,
    title: Annotated[str | None, Query(max_length=16)] = None,
    mode: ServiceMode | None = None,
    keyword: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PublicDoctorPage:
    """Doctors open for online service; filter by department, title, mode, name/specialty keyword."""
    f = DoctorFilter(department_id, title, mode, keyword.strip() if keyword else None)
    items, total = directory_service.doctors(db, inst, f, limit=limit, offset=offset)
    return PublicDoctorPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/doctors/{profile_id}", response_model=PublicDoctorDetail)
def doctor(profile_id: int, inst: PublicInstitution, db: ReadDb) -> PublicDoctorDetail:
    """One doctor's page: title, qualification (masked), specialties, modes and prices."""
    return directory_service.doctor(db, inst, profile_id)


@router.get("/doctors/{profile_id}/photo")
def doctor_photo(profile_id: int, inst: PublicInstitution, db: ReadDb, storage: Storage) -> Response:
    """A listed doctor's photo."""
    data, content_type = directory_service.doctor_photo(db, inst, storage, profile_id)
    return Response(content=data, media_type=content_type, headers={"Cache-Control": "public, max-age=300"})


@router.get("/disclosure", response_model=list[PublicDisclosureItem])
def disclosure(inst: PublicInstitution, db: ReadDb) -> list[PublicDisclosureItem]:
    """信息公示: every item of BJ 5.6.4.1."""
    return directory_service.disclosure(db, inst)
