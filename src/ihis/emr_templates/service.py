"""Personal and department EMR templates: create, read, update (version-guarded), delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.coding import service as coding
from ihis.coding.keys import code_key
from ihis.emr_templates import policy
from ihis.emr_templates.models import EmrTemplate
from ihis.emr_templates.schemas import TemplateFields
from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.errors import Conflict, FieldError, InvalidInput, NotFound


def _diagnoses(db: Session, actor: Actor, fields: TemplateFields) -> list[dict[str, Any]]:
    """The diagnoses as codes of their system's current edition (422 naming each bad one)."""
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(fields.diagnoses):
        first = seen.setdefault((item.system, code_key(item.code)), index)
        if first != index:
            raise InvalidInput.field(
                f"body.diagnoses.{index}.code",
                "duplicate",
                f"与第 {first + 1} 个诊断重复",
                f"Same diagnosis as item {first}",
            )
    resolved = coding.resolve_diagnoses(
        db, actor.institution_id, [(d.system, d.code) for d in fields.diagnoses], "body.diagnoses"
    )
    return [{"system": d.system, "edition": d.edition, "code": d.code, "name": d.name} for d in resolved]


def _values(db: Session, actor: Actor, fields: TemplateFields) -> dict[str, Any]:
    return {
        "name": fields.name,
        "chief_complaint": fields.chief_complaint,
        "present_illness": fields.present_illness,
        "past_history": fields.past_history,
        "allergy_history": fields.allergy_history,
        "diagnoses": _diagnoses(db, actor, fields),
        "treatment_advice": fields.treatment_advice,
    }


def _name_taken() -> Conflict:
    return Conflict(
        "已有同名模板",
        "A template with this name exists",
        errors=[FieldError("body.name", "name_taken", "已有同名模板", "A template with this name exists")],
    )


def _audit(db: Session, actor: Actor, action: str, template: EmrTemplate) -> None:
    audit.record(
        db,
        actor.audit(),
        f"emr_template.{action}",
        resource_type="emr_template",
        resource_id=template.id,
        detail={"department_id": template.department_id} if template.department_id else None,
    )


def create(db: Session, actor: Actor, fields: TemplateFields, *, department_id: int | None) -> EmrTemplate:
    """A new personal template, or a department's when ``department_id`` is given."""
    if department_id is None:
        policy.check_doctor(actor)
    else:
        policy.check_department_member(db, actor, department_id)
    template = EmrTemplate(
        institution_id=actor.institution_id,
        owner_user_id=None if department_id else actor.user_id,
        department_id=department_id,
        created_by=actor.user_id,
        updated_by=actor.user_id,
        version=1,
        **_values(db, actor, fields),
    )
    try:
        with db.begin_nested():
            db.add(template)
            db.flush()
    except IntegrityError:
        raise _name_taken() from None
    _audit(db, actor, "create", template)
    return template


def list_personal(db: Session, actor: Actor) -> list[EmrTemplate]:
    """The doctor's own templates by name."""
    policy.check_doctor(actor)
    return list(
        db.scalars(
            select(EmrTemplate)
            .where(
                EmrTemplate.institution_id == actor.institution_id, EmrTemplate.owner_user_id == actor.user_id
            )
            .order_by(EmrTemplate.name)
        )
    )


def department_for_listing(db: Session, actor: Actor, department_id: int | None) -> int:
    """The department asked for, or the doctor's own; the doctor must belong to it."""
    policy.check_doctor(actor)
    if department_id is None:
        department_id = policy.own_department_id(db, actor)
        if department_id is None:
            raise InvalidInput.field(
                "query.department_id", "department_required", "请指定科室", "Give a department_id"
            )
    policy.check_department_member(db, actor, department_id)
    return department_id


def list_department(db: Session, actor: Actor, department_id: int | None) -> list[EmrTemplate]:
    """A department's shared templates by name (the doctor must belong to it)."""
    chosen = department_for_listing(db, actor, department_id)
    return list(
        db.scalars(
            select(EmrTemplate)
            .where(EmrTemplate.institution_id == actor.institution_id, EmrTemplate.department_id == chosen)
            .order_by(EmrTemplate.name)
        )
    )


def _reachable(db: Session, actor: Actor, *, personal: bool) -> Any:
    """The condition selecting the templates the doctor may use of one kind."""
    if personal:
        return EmrTemplate.owner_user_id == actor.user_id
    department_id = policy.own_department_id(db, actor)
    return EmrTemplate.department_id == department_id if department_id else EmrTemplate.id.is_(None)


def get(db: Session, actor: Actor, template_id: int, *, personal: bool) -> EmrTemplate:
    """One template the doctor may use, or 404."""
    policy.check_doctor(actor)
    template = db.scalar(
        select(EmrTemplate).where(
            EmrTemplate.id == template_id,
            EmrTemplate.institution_id == actor.institution_id,
            _reachable(db, actor, personal=personal),
        )
    )
    if template is None:
        raise NotFound("模板不存在", "No such template")
    return template


def update_template(
    db: Session, actor: Actor, template_id: int, fields: TemplateFields, version: int, *, personal: bool
) -> EmrTemplate:
    """Replace a template's fields if it is still at ``version`` (409 otherwise)."""
    template = get(db, actor, template_id, personal=personal)
    values = _values(db, actor, fields)
    try:
        with db.begin_nested():
            changed = db.execute(
                update(EmrTemplate)
                .where(EmrTemplate.id == template.id, EmrTemplate.version == version)
                .values(**values, version=EmrTemplate.version + 1, updated_by=actor.user_id)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
    except IntegrityError:
        raise _name_taken() from None
    if changed != 1:
        raise Conflict(
            "模板已被修改，请刷新后重试",
            "The template was changed meanwhile; reload it",
            errors=[FieldError("body.version", "stale", "版本已过期", "Stale version")],
        )
    db.refresh(template)
    _audit(db, actor, "update", template)
    return template


def delete_template(db: Session, actor: Actor, template_id: int, *, personal: bool) -> None:
    """Remove a template (records made from it are unaffected: they copied its text)."""
    template = get(db, actor, template_id, personal=personal)
    _audit(db, actor, "delete", template)
    db.execute(
        delete(EmrTemplate).where(EmrTemplate.id == template.id).execution_options(synchronize_session=False)
    )
    db.expunge(template)
