"""处方模板: a doctor's personal templates and their department's shared ones (the policy of EMR
templates, ``emr_templates.policy``). A template only fills a draft's lines in the editor; it is
never submitted by itself (DOMAIN §5: the doctor's own act signs every prescription)."""

from __future__ import annotations

import json
from dataclasses import asdict

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from ihis.emr_templates import policy
from ihis.formulary import service as formulary
from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.errors import FieldError, InvalidInput, NotFound
from ihis.prescribing.drafts import LineData
from ihis.prescribing.models import HERBAL, KINDS, RxTemplate

MAX_TEMPLATES = 200


def _lines(db: Session, actor: Actor, kind: str, lines: tuple[LineData, ...]) -> str:
    """The template's lines (drugs of the formulary of the template's kind), as stored JSON."""
    if not lines:
        raise InvalidInput.field("body.lines", "required", "模板至少包含一种药品", "Add at least one drug")
    facts = formulary.drug_facts(db, actor.institution_id, [ln.drug_id for ln in lines])
    problems = [
        FieldError(
            f"body.lines.{i}.drug_id", "drug_unknown", "药品不在目录中或类型不符", "Not in the formulary"
        )
        for i, ln in enumerate(lines)
        if ln.drug_id not in facts or (facts[ln.drug_id].kind == "herbal") != (kind == HERBAL)
    ]
    if problems:
        raise InvalidInput("模板内容有误", "The template has errors", errors=problems)
    return json.dumps([asdict(ln) for ln in lines], ensure_ascii=False)


def create(
    db: Session, actor: Actor, *, name: str, kind: str, lines: tuple[LineData, ...], department_id: int | None
) -> RxTemplate:
    """A personal template, or a department one (a doctor of that department)."""
    policy.check_doctor(actor)
    if department_id is not None:
        policy.check_department_member(db, actor, department_id)
    if kind not in KINDS:
        raise InvalidInput.field("body.kind", "kind_invalid", "处方类型不正确", "Unknown prescription kind")
    title = name.strip()
    if not 1 <= len(title) <= 64:
        raise InvalidInput.field("body.name", "name_length", "名称 1-64 字", "Name: 1-64 characters")
    template = RxTemplate(
        institution_id=actor.institution_id,
        scope="department" if department_id is not None else "personal",
        owner_id=department_id if department_id is not None else actor.user_id,
        name=title,
        kind=kind,
        lines=_lines(db, actor, kind, lines),
        created_by=actor.user_id,
    )
    db.add(template)
    db.flush()
    audit.record(
        db,
        actor.audit(),
        "rx_template.create",
        resource_type="rx_template",
        resource_id=template.id,
        detail={"scope": template.scope, "name": title},
    )
    return template


def visible(db: Session, actor: Actor) -> list[RxTemplate]:
    """The doctor's personal templates and their department's, by name."""
    policy.check_doctor(actor)
    department_id = policy.own_department_id(db, actor)
    mine = (RxTemplate.scope == "personal") & (RxTemplate.owner_id == actor.user_id)
    shared = (RxTemplate.scope == "department") & (RxTemplate.owner_id == department_id)
    condition = or_(mine, shared) if department_id is not None else mine
    return list(
        db.scalars(
            select(RxTemplate)
            .where(RxTemplate.institution_id == actor.institution_id, condition)
            .order_by(RxTemplate.scope.desc(), RxTemplate.name)
            .limit(MAX_TEMPLATES)
        )
    )


def remove(db: Session, actor: Actor, template_id: int) -> None:
    """Delete an own personal template, or one of the own department's."""
    if template_id not in {t.id for t in visible(db, actor)}:
        raise NotFound("模板不存在", "Template not found")
    db.execute(delete(RxTemplate).where(RxTemplate.id == template_id))
    audit.record(
        db, actor.audit(), "rx_template.delete", resource_type="rx_template", resource_id=template_id
    )


def lines_of(template: RxTemplate) -> list[LineData]:
    return [LineData(**item) for item in json.loads(template.lines)]
