"""Routers of EMR templates: a doctor's own (``/me/emr-templates``) and departments' (``/emr-templates``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ihis.emr_templates import service
from ihis.emr_templates.models import EmrTemplate
from ihis.emr_templates.schemas import DepartmentTemplateIn, TemplateFields, TemplateOut, TemplateUpdateIn
from ihis.identity.access import StaffActor
from ihis.platform.http import Db, ReadDb

router = APIRouter(tags=["emr-templates"])


def _out(template: EmrTemplate) -> TemplateOut:
    return TemplateOut.model_validate(
        {
            **{c: getattr(template, c) for c in TemplateOut.model_fields if c != "scope"},
            "scope": "department" if template.department_id else "personal",
        }
    )


def _fields(body: TemplateFields) -> TemplateFields:
    return TemplateFields.model_validate(body.model_dump(include=set(TemplateFields.model_fields)))


# --- personal -----------------------------------------------------------------------------------


@router.get("/me/emr-templates", response_model=list[TemplateOut])
def list_personal(actor: StaffActor, db: ReadDb) -> list[TemplateOut]:
    """The doctor's own templates."""
    return [_out(t) for t in service.list_personal(db, actor)]


@router.post("/me/emr-templates", response_model=TemplateOut, status_code=201)
def create_personal(body: TemplateFields, actor: StaffActor, db: Db) -> TemplateOut:
    """A new personal template (diagnosis codes must be in the current editions)."""
    return _out(service.create(db, actor, body, department_id=None))


@router.get("/me/emr-templates/{template_id}", response_model=TemplateOut)
def get_personal(template_id: int, actor: StaffActor, db: ReadDb) -> TemplateOut:
    """One of the doctor's own templates."""
    return _out(service.get(db, actor, template_id, personal=True))


@router.put("/me/emr-templates/{template_id}", response_model=TemplateOut)
def update_personal(template_id: int, body: TemplateUpdateIn, actor: StaffActor, db: Db) -> TemplateOut:
    """Replace one of the doctor's own templates (409 if it changed since ``version``)."""
    return _out(service.update_template(db, actor, template_id, _fields(body), body.version, personal=True))


@router.delete("/me/emr-templates/{template_id}", status_code=204)
def delete_personal(template_id: int, actor: StaffActor, db: Db) -> Response:
    """Remove one of the doctor's own templates."""
    service.delete_template(db, actor, template_id, personal=True)
    return Response(status_code=204)


# --- department ---------------------------------------------------------------------------------


@router.get("/emr-templates", response_model=list[TemplateOut])
def list_department(
    actor: StaffActor,
    db: ReadDb,
    department_id: Annotated[int | None, Query(description="Default: the doctor's own department")] = None,
) -> list[TemplateOut]:
    """A department's shared templates (doctors of that department)."""
    return [_out(t) for t in service.list_department(db, actor, department_id)]


@router.post("/emr-templates", response_model=TemplateOut, status_code=201)
def create_department(body: DepartmentTemplateIn, actor: StaffActor, db: Db) -> TemplateOut:
    """A new template shared by the department (doctors of that department)."""
    return _out(service.create(db, actor, _fields(body), department_id=body.department_id))


@router.get("/emr-templates/{template_id}", response_model=TemplateOut)
def get_department(template_id: int, actor: StaffActor, db: ReadDb) -> TemplateOut:
    """One template of the doctor's department."""
    return _out(service.get(db, actor, template_id, personal=False))


@router.put("/emr-templates/{template_id}", response_model=TemplateOut)
def update_department(template_id: int, body: TemplateUpdateIn, actor: StaffActor, db: Db) -> TemplateOut:
    """Replace a template of the doctor's department (409 if it changed since ``version``)."""
    return _out(service.update_template(db, actor, template_id, _fields(body), body.version, personal=False))


@router.delete("/emr-templates/{template_id}", status_code=204)
def delete_department(template_id: int, actor: StaffActor, db: Db) -> Response:
    """Remove a template of the doctor's department."""
    service.delete_template(db, actor, template_id, personal=False)
    return Response(status_code=204)
