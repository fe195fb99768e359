"""Prescribing endpoints: the doctor writes, checks, submits (PIN), recalls, revises, withdraws
(``/workstation/...``); the patient reads their own (``/me/prescriptions``). Review: ``review_api``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select

from ihis.consultation.models import IN_PROGRESS
from ihis.consultation.records import Diagnosis
from ihis.consultation.service import doctor_consultation
from ihis.formulary import service as formulary
from ihis.formulary.facts import ROUTES
from ihis.identity.access import CurrentActor
from ihis.identity.consent import ConsentedPatient
from ihis.medication_rules.vocab import FREQUENCIES
from ihis.platform import audit
from ihis.platform.errors import NotFound
from ihis.platform.http import Db, ReadDb, get_database
from ihis.prescribing import drafts, submission, templates, views
from ihis.prescribing.models import DRAFT, WITHDRAWN, Prescription, RxTemplate
from ihis.prescribing.review import CHECKLIST
from ihis.prescribing.schemas import (
    CreateIn,
    DraftIn,
    DrugHitOut,
    LineIn,
    PrescriptionOut,
    ReasonIn,
    StockOut,
    SubmitIn,
    TemplateIn,
    TemplateOut,
    VocabularyItem,
    VocabularyOut,
)
from ihis.scheduling.api import DoctorActor

router = APIRouter(tags=["prescriptions"])
WS = "/workstation"


@router.get("/rx/vocabulary", response_model=VocabularyOut)
def vocabulary(actor: CurrentActor) -> VocabularyOut:
    """Frequencies, routes and the 四查十对 checklist items (codes with zh/en names)."""
    return VocabularyOut(
        frequencies=[
            VocabularyItem(code=c, name_zh=f.name_zh, name_en=f.name_en) for c, f in FREQUENCIES.items()
        ],
        routes=[VocabularyItem(code=c, name_zh=zh, name_en=en) for c, (zh, en) in ROUTES.items()],
        checklist=list(CHECKLIST),
    )


@router.get(f"{WS}/rx/drugs", response_model=list[DrugHitOut])
def drug_search(
    actor: DoctorActor,
    db: ReadDb,
    q: Annotated[str, Query(min_length=1, max_length=32, description="Name, code or pinyin initials")],
    kind: Annotated[Literal["western", "patent", "herbal"] | None, Query()] = None,
) -> list[DrugHitOut]:
    """Drugs to prescribe, with never-online ones flagged and the stock of every pharmacy."""
    hits = formulary.search_facts(db, actor.institution_id, q, kind=kind, limit=20)
    levels = formulary.stock_levels(db, actor.institution_id, [d.id for d in hits])
    return [
        DrugHitOut(
            id=d.id,
            code=d.code,
            generic_name=d.generic_name,
            trade_name=d.trade_name,
            kind=d.kind,
            form=d.form,
            strength=d.strength,
            dose_unit=d.dose_unit,
            dispense_unit=d.dispense_unit,
            pack_size=d.pack_size,
            package_unit=d.package_unit,
            price_fen=d.price_fen,
            routes=sorted(d.routes),
            control_class=d.control_class,
            never_online=d.never_online,
            online=d.online,
            high_alert=d.high_alert,
            stock=[StockOut(**vars(s)) for s in levels.get(d.id, [])],
        )
        for d in hits
    ]


@router.post(
    f"{WS}/consultations/{{consultation_id}}/prescriptions",
    response_model=PrescriptionOut,
    status_code=status.HTTP_201_CREATED,
)
def create(consultation_id: int, body: CreateIn, actor: DoctorActor, db: Db) -> PrescriptionOut:
    """A new draft in an in-progress consultation (``renew_from``: 续方 from an approved one)."""
    rx = drafts.create(db, actor, consultation_id, body.kind, body.renew_from)
    return views.outs(db, [rx])[0]


@router.get(f"{WS}/consultations/{{consultation_id}}/prescriptions", response_model=list[PrescriptionOut])
def of_consultation(consultation_id: int, actor: DoctorActor, db: ReadDb) -> list[PrescriptionOut]:
    """The doctor's prescriptions of one consultation, newest first."""
    rows = db.scalars(
        select(Prescription)
        .where(
            Prescription.institution_id == actor.institution_id,
            Prescription.consultation_id == consultation_id,
            Prescription.doctor_id == actor.user_id,
        )
        .order_by(Prescription.id.desc())
    ).all()
    return views.outs(db, list(rows))


@router.get(f"{WS}/consultations/{{consultation_id}}/renewable", response_model=list[PrescriptionOut])
def renewable(consultation_id: int, actor: DoctorActor, db: ReadDb) -> list[PrescriptionOut]:
    """Approved prescriptions of the patient of the doctor's in-progress consultation (续方); audited."""
    consultation = doctor_consultation(db, actor, consultation_id)
    if consultation.status != IN_PROGRESS:
        raise NotFound("没有进行中的接诊", "No in-progress consultation")
    rows = db.scalars(
        select(Prescription)
        .where(
            Prescription.institution_id == actor.institution_id,
            Prescription.visitor_id == consultation.visitor_id,
            Prescription.status == "approved",
        )
        .order_by(Prescription.id.desc())
        .limit(50)
    ).all()
    audit.record(
        db,
        actor.audit(),
        "prescription.history.read",
        resource_type="consultation",
        resource_id=consultation.id,
        patient_id=consultation.visitor_id,
    )
    return views.outs(db, list(rows))


@router.get(f"{WS}/prescriptions/{{rx_id}}", response_model=PrescriptionOut)
def detail(rx_id: int, actor: DoctorActor, db: ReadDb) -> PrescriptionOut:
    """One of the doctor's prescriptions with findings and timeline."""
    return views.outs(db, [drafts.doctor_prescription(db, actor, rx_id)], with_timeline=True)[0]


@router.put(f"{WS}/prescriptions/{{rx_id}}", response_model=PrescriptionOut)
def save(rx_id: int, body: DraftIn, actor: DoctorActor, db: Db) -> PrescriptionOut:
    """Save the draft (``version`` as read) and check it: the findings come back with it."""
    data = drafts.DraftData(
        version=body.version,
        diagnoses=tuple(Diagnosis(system=d.system, code=d.code, name="") for d in body.diagnoses),
        course=body.course,
        extension_reason=body.extension_reason,
        validity_days=body.validity_days,
        allergy_classes=tuple(body.allergy_classes),
        pregnant=body.pregnant,
        lactating=body.lactating,
        limited_mobility=body.limited_mobility,
        guardian_name=body.guardian_name,
        guardian_relation=body.guardian_relation,
        accompanying_clinician=body.accompanying_clinician,
        herbal_doses=body.herbal_doses,
        herbal_usage=body.herbal_usage,
        note=body.note,
        lines=tuple(
            drafts.LineData(
                drug_id=x.drug_id,
                dose=x.dose,
                dose_unit=x.dose_unit,
                frequency=x.frequency,
                route=x.route,
                days=x.days,
                quantity=x.quantity,
                note=x.note,
            )
            for x in body.lines
        ),
    )
    saved = drafts.save(db, actor, rx_id, data)
    rx = saved.prescription
    return views.outs(db, [rx], with_timeline=True, lines={rx.id: saved.lines})[0]


@router.post(f"{WS}/prescriptions/{{rx_id}}/submit", response_model=PrescriptionOut)
def submit(rx_id: int, body: SubmitIn, actor: DoctorActor, request: Request) -> PrescriptionOut:
    """Submit with the signing PIN: no block, a reason for every warning; signed and time-stamped."""
    database = get_database(request)
    overrides = tuple(submission.Override(o.key, o.reason) for o in body.overrides)
    submission.submit(database, actor, rx_id, body.pin, overrides)
    with database.unit_of_work(write=False) as db:
        return views.outs(db, [drafts.doctor_prescription(db, actor, rx_id)], with_timeline=True)[0]


@router.post(f"{WS}/prescriptions/{{rx_id}}/recall", response_model=PrescriptionOut)
def recall(rx_id: int, body: ReasonIn, actor: DoctorActor, db: Db) -> PrescriptionOut:
    """Take a submitted prescription back before a pharmacist has claimed it."""
    return views.outs(db, [submission.recall(db, actor, rx_id, body.reason)], with_timeline=True)[0]


@router.post(f"{WS}/prescriptions/{{rx_id}}/revise", response_model=PrescriptionOut)
def revise(rx_id: int, actor: DoctorActor, db: Db) -> PrescriptionOut:
    """Edit a rejected prescription again (its next submission is a new signed version)."""
    return views.outs(db, [submission.revise(db, actor, rx_id)], with_timeline=True)[0]


@router.post(f"{WS}/prescriptions/{{rx_id}}/withdraw", response_model=PrescriptionOut)
def withdraw(rx_id: int, body: ReasonIn, actor: DoctorActor, db: Db) -> PrescriptionOut:
    """Give up a draft or a rejected prescription (never dispensed)."""
    return views.outs(db, [submission.withdraw(db, actor, rx_id, body.reason)], with_timeline=True)[0]


# --- templates ----------------------------------------------------------------------------------------


def _template_out(t: RxTemplate) -> TemplateOut:
    return TemplateOut(
        id=t.id,
        scope=t.scope,
        name=t.name,
        kind=t.kind,
        lines=[LineIn(**vars(x)) for x in templates.lines_of(t)],
        created_at=t.created_at,
    )


@router.get(f"{WS}/rx-templates", response_model=list[TemplateOut])
def list_templates(actor: DoctorActor, db: ReadDb) -> list[TemplateOut]:
    """Your personal prescription templates and your department's."""
    return [_template_out(t) for t in templates.visible(db, actor)]


@router.post(f"{WS}/rx-templates", response_model=TemplateOut, status_code=status.HTTP_201_CREATED)
def create_template(body: TemplateIn, actor: DoctorActor, db: Db) -> TemplateOut:
    """Save lines as a template (they only ever fill a draft; the doctor still signs)."""
    lines = tuple(drafts.LineData(**x.model_dump()) for x in body.lines)
    made = templates.create(
        db, actor, name=body.name, kind=body.kind, lines=lines, department_id=body.department_id
    )
    return _template_out(made)


@router.delete(f"{WS}/rx-templates/{{template_id}}", status_code=status.HTTP_204_NO_CONTENT)
def delete_template(template_id: int, actor: DoctorActor, db: Db) -> None:
    """Delete your own template or one of your department's."""
    templates.remove(db, actor, template_id)


# --- the patient ------------------------------------------------------------------------------------


def _patient_visible(actor_id: int, institution_id: int) -> list[object]:
    return [
        Prescription.institution_id == institution_id,
        Prescription.account_id == actor_id,
        Prescription.status.not_in((DRAFT, WITHDRAWN)),
    ]


@router.get("/me/prescriptions", response_model=list[PrescriptionOut])
def mine(actor: ConsentedPatient, db: ReadDb) -> list[PrescriptionOut]:
    """The patient's prescriptions (submitted ones: drafts are the doctor's), newest first; audited."""
    rows = list(
        db.scalars(
            select(Prescription)
            .where(*_patient_visible(actor.user_id, actor.institution_id))  # type: ignore[arg-type]
            .order_by(Prescription.id.desc())
            .limit(100)
        )
    )
    for rx in rows:
        audit.record(
            db,
            actor.audit(),
            "prescription.read",
            resource_type="prescription",
            resource_id=rx.id,
            patient_id=rx.visitor_id,
        )
    return views.outs(db, rows)


@router.get("/me/prescriptions/{rx_id}", response_model=PrescriptionOut)
def my_one(rx_id: int, actor: ConsentedPatient, db: ReadDb) -> PrescriptionOut:
    """One of the patient's prescriptions with its timeline (404 for anyone else's)."""
    rx = db.scalar(
        select(Prescription).where(
            Prescription.id == rx_id,
            *_patient_visible(actor.user_id, actor.institution_id),  # type: ignore[arg-type]
        )
    )
    if rx is None:
        raise NotFound("处方不存在", "Prescription not found")
    audit.record(
        db,
        actor.audit(),
        "prescription.read",
        resource_type="prescription",
        resource_id=rx.id,
        patient_id=rx.visitor_id,
    )
    return views.outs(db, [rx], with_timeline=True)[0]
