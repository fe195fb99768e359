"""Writing a prescription: a draft in an in-progress consultation, saved and checked on every save.

``create`` starts a draft (optionally renewing an earlier prescription of the same patient, 续方),
``save`` replaces its content (optimistic ``version``), re-runs every check and stores the findings,
keeping the doctor's override reasons of warnings that are still found. Only the doctor of the
consultation writes; templates or AI never submit (submission is ``submission.submit``, the doctor's
own act with the signing PIN).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ihis.coding import service as coding
from ihis.consultation.models import IN_PROGRESS, Consultation, MedicalRecord
from ihis.consultation.records import Diagnosis, check_diagnoses
from ihis.consultation.service import doctor_consultation
from ihis.formulary import service as formulary
from ihis.formulary.facts import ROUTES, DrugFacts
from ihis.identity.access import Actor
from ihis.identity.models import Visitor
from ihis.medication_rules.vocab import FREQUENCIES
from ihis.platform import audit
from ihis.platform.clock import local_today
from ihis.platform.errors import Conflict, FieldError, InvalidInput, NotFound
from ihis.prescribing import checks, events
from ihis.prescribing.models import (
    COURSES,
    DRAFT,
    HERBAL,
    KINDS,
    Prescription,
    PrescriptionFinding,
    PrescriptionLine,
)

MAX_LINES = 30  # a sanity bound; the 5-drug rule of western prescriptions is a finding, not a 422


@dataclass(frozen=True)
class LineData:
    drug_id: int
    dose: str
    dose_unit: str
    frequency: str
    route: str
    days: int
    quantity: int
    note: str | None = None


@dataclass(frozen=True)
class DraftData:
    version: int
    diagnoses: tuple[Diagnosis, ...]
    course: str
    extension_reason: str | None
    validity_days: int
    allergy_classes: tuple[str, ...]
    pregnant: bool | None
    lactating: bool | None
    limited_mobility: bool
    guardian_name: str | None
    guardian_relation: str | None
    accompanying_clinician: str | None
    herbal_doses: int | None
    herbal_usage: str | None
    note: str | None
    lines: tuple[LineData, ...]


def number_for(rx_id: int, today: dt.date) -> str:
    """处方编号: CF + issue date + the row id — unique per hospital (backed by a unique constraint)."""
    return f"CF{today:%Y%m%d}{rx_id:08d}"


def doctor_prescription(db: Session, actor: Actor, rx_id: int) -> Prescription:
    """A prescription the signed-in doctor wrote (404 for anyone else's)."""
    rx = db.scalar(
        select(Prescription).where(
            Prescription.id == rx_id,
            Prescription.institution_id == actor.institution_id,
            Prescription.doctor_id == actor.user_id,
        )
    )
    if rx is None:
        raise NotFound("处方不存在", "Prescription not found")
    return rx


def _record_diagnoses(db: Session, consultation_id: int) -> str:
    """The diagnoses of the consultation's latest record version (a draft included), as stored."""
    latest = db.scalar(
        select(MedicalRecord.diagnoses)
        .where(MedicalRecord.consultation_id == consultation_id)
        .order_by(MedicalRecord.version.desc())
        .limit(1)
    )
    return latest or "[]"


def create(
    db: Session, actor: Actor, consultation_id: int, kind: str, renew_from: int | None
) -> Prescription:
    """A new draft in the doctor's in-progress consultation; a renewal copies an earlier one's lines."""
    consultation = doctor_consultation(db, actor, consultation_id)
    if consultation.status != IN_PROGRESS:
        raise Conflict("接诊未在进行中，不能开具处方", "Prescribe only in an in-progress consultation")
    if kind not in KINDS:
        raise InvalidInput.field("body.kind", "kind_invalid", "处方类型不正确", "Unknown prescription kind")
    source = _renewal_source(db, consultation, renew_from) if renew_from is not None else None
    rx = Prescription(
        institution_id=consultation.institution_id,
        number="",
        consultation_id=consultation.id,
        department_id=consultation.department_id,
        doctor_id=actor.user_id,
        account_id=consultation.account_id,
        visitor_id=consultation.visitor_id,
        kind=source.kind if source else kind,
        status=DRAFT,
        diagnoses=_record_diagnoses(db, consultation.id),
        renewed_from_id=source.id if source else None,
    )
    if source is not None:
        for name in (
            "course",
            "extension_reason",
            "allergy_classes",
            "pregnant",
            "lactating",
            "limited_mobility",
        ):
            setattr(rx, name, getattr(source, name))
        rx.herbal_doses, rx.herbal_usage = source.herbal_doses, source.herbal_usage
    db.add(rx)
    db.flush()
    rx.number = number_for(rx.id, local_today())
    if source is not None:
        copied = [
            LineData(ln.drug_id, ln.dose, ln.dose_unit, ln.frequency, ln.route, ln.days, ln.quantity, ln.note)
            for ln in db.scalars(
                select(PrescriptionLine)
                .where(PrescriptionLine.prescription_id == source.id)
                .order_by(PrescriptionLine.position)
            )
        ]
        _write_lines(db, rx, tuple(copied), field="renew_from")
    db.flush()
    findings_after_change(db, rx)
    events.record(db, rx, "created", actor, {"renewed_from": source.number if source else None})
    audit.record(
        db,
        actor.audit(),
        "prescription.create",
        resource_type="prescription",
        resource_id=rx.id,
        patient_id=rx.visitor_id,
        detail={"number": rx.number, "renewed_from": renew_from},
    )
    return rx


def _renewal_source(db: Session, consultation: Consultation, renew_from: int) -> Prescription:
    # 续方: an approved prescription of the same patient here, by any doctor.
    source = db.scalar(
        select(Prescription).where(
            Prescription.id == renew_from,
            Prescription.institution_id == consultation.institution_id,
            Prescription.visitor_id == consultation.visitor_id,
            Prescription.status == "approved",
        )
    )
    if source is None:
        raise InvalidInput.field(
            "body.renew_from", "renewal_unknown", "可续方的处方不存在", "No approved prescription to renew"
        )
    return source


def _decimal_dose(value: str, field: str) -> str:
    try:
        dose = Decimal(value)
    except InvalidOperation:
        raise InvalidInput.field(field, "dose_invalid", "剂量须为数字", "The dose must be a number") from None
    if not dose.is_finite() or dose <= 0 or dose.as_tuple().exponent < -4 or dose >= 100000:  # type: ignore[operator]
        raise InvalidInput.field(
            field, "dose_invalid", "剂量须为正数，最多 4 位小数", "Dose: positive, 4 decimals at most"
        )
    return format(dose.normalize(), "f")


def _write_lines(
    db: Session,
    rx: Prescription,
    lines: tuple[LineData, ...],
    *,
    field: str = "body.lines",
    flush: bool = True,
) -> tuple[dict[int, DrugFacts], list[PrescriptionLine]]:
    """Replace the draft's lines (drugs of the formulary, of the prescription's kind, snapshot);
    returns the drugs' facts and the new rows (by position) for the check that follows. ``flush``
    False: the rows are added to the session and written with the caller's next flush."""
    if len(lines) > MAX_LINES:
        raise InvalidInput.field(field, "too_many", f"最多 {MAX_LINES} 行", f"At most {MAX_LINES} lines")
    facts = formulary.drug_facts(db, rx.institution_id, [ln.drug_id for ln in lines])
    problems: list[FieldError] = []
    rows: list[PrescriptionLine] = []
    for i, ln in enumerate(lines):
        at = f"{field}.{i}"
        drug = facts.get(ln.drug_id)
        if drug is None:
            problems.append(
                FieldError(f"{at}.drug_id", "drug_unknown", "药品不在目录中", "Not in the formulary")
            )
            continue
        if (drug.kind == "herbal") != (rx.kind == HERBAL):
            problems.append(
                FieldError(
                    f"{at}.drug_id",
                    "kind_mismatch",
                    "中药饮片与西药、中成药须分别开具处方",
                    "Herbal pieces and western/patent drugs go on separate prescriptions",
                )
            )
        if ln.frequency not in FREQUENCIES:
            problems.append(
                FieldError(f"{at}.frequency", "frequency_unknown", "频次不正确", "Unknown frequency")
            )
        if ln.route not in ROUTES:
            problems.append(FieldError(f"{at}.route", "route_unknown", "给药途径不正确", "Unknown route"))
        if not 1 <= ln.days <= 366:
            problems.append(FieldError(f"{at}.days", "days_invalid", "天数不正确", "Invalid number of days"))
        if not 1 <= ln.quantity <= 9999:
            problems.append(
                FieldError(f"{at}.quantity", "quantity_invalid", "数量不正确", "Invalid quantity")
            )
        try:
            dose = _decimal_dose(ln.dose, f"{at}.dose")
        except InvalidInput as exc:
            problems += exc.errors
            continue
        rows.append(
            PrescriptionLine(
                institution_id=rx.institution_id,
                prescription_id=rx.id,
                position=i,
                drug_id=drug.id,
                drug_code=drug.code,
                drug_name=drug.generic_name
                if not drug.trade_name
                else f"{drug.generic_name}（{drug.trade_name}）",
                strength=drug.strength,
                form=drug.form,
                package=f"{drug.pack_size}{drug.dispense_unit}/{drug.package_unit}",
                dose=dose,
                dose_unit=ln.dose_unit.strip()[:16],
                frequency=ln.frequency,
                route=ln.route,
                days=ln.days,
                quantity=ln.quantity,
                unit_price_fen=drug.price_fen,
                amount_fen=drug.price_fen * ln.quantity,
                note=(ln.note or "").strip()[:200] or None,
            )
        )
    if problems:
        raise InvalidInput("处方内容有误", "The prescription has errors", errors=problems)
    db.execute(delete(PrescriptionLine).where(PrescriptionLine.prescription_id == rx.id))
    db.add_all(rows)
    rx.total_fen = sum(r.amount_fen for r in rows)
    if flush:
        db.flush()
    return facts, rows


def _text(value: str | None, field: str, maximum: int) -> str | None:
    text = (value or "").strip()
    if len(text) > maximum:
        raise InvalidInput.field(field, "too_long", f"不超过{maximum}字", f"At most {maximum} characters")
    return text or None


@dataclass(frozen=True)
class Saved:
    """A saved draft and its lines as written (by position), for the answer without a re-read."""

    prescription: Prescription
    lines: list[PrescriptionLine]
    # Held so the answer finds the patient the check read in the session (its identity map keeps
    # only referenced objects) instead of reading it again.
    patient: Visitor | None


def save(db: Session, actor: Actor, rx_id: int, data: DraftData) -> Saved:
    """Replace the draft's content (409 if someone saved in between), then check it again."""
    rx = doctor_prescription(db, actor, rx_id)
    if rx.status != DRAFT:
        raise Conflict("处方已提交，不能修改（可撤回后修改）", "Submitted: recall it first to change it")
    if data.course not in COURSES:
        raise InvalidInput.field("body.course", "course_invalid", "疗程类型不正确", "Unknown course")
    check_diagnoses(data.diagnoses)
    resolved = coding.resolve_diagnoses(
        db, rx.institution_id, [(d.system, d.code) for d in data.diagnoses], "body.diagnoses"
    )
    moved = db.execute(
        update(Prescription)
        .where(Prescription.id == rx.id, Prescription.status == DRAFT, Prescription.version == data.version)
        .values(version=Prescription.version + 1)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise Conflict("处方已在别处被修改，请刷新后再保存", "The prescription changed meanwhile: reload it")
    if rx.version == data.version:
        # The row read above is the version just moved on (every change of a draft's own columns
        # moves the version), so only the version is new: no re-read.
        set_committed_value(rx, "version", data.version + 1)
    else:
        db.refresh(rx)
    rx.diagnoses = json.dumps(
        [{"system": d.system, "edition": d.edition, "code": d.code, "name": d.name} for d in resolved],
        ensure_ascii=False,
    )
    rx.course = data.course
    rx.extension_reason = _text(data.extension_reason, "body.extension_reason", 500)
    if not 1 <= data.validity_days <= 3:  # the same day, extendable to at most 3 days (DOMAIN §5, fixed)
        raise InvalidInput.field(
            "body.validity_days", "validity_invalid", "处方有效期为 1 至 3 天", "Validity is 1 to 3 days"
        )
    rx.validity_days = data.validity_days
    rx.allergy_classes = json.dumps(sorted({c.strip().lower() for c in data.allergy_classes if c.strip()}))
    rx.pregnant, rx.lactating, rx.limited_mobility = data.pregnant, data.lactating, data.limited_mobility
    rx.guardian_name = _text(data.guardian_name, "body.guardian_name", 64)
    rx.guardian_relation = _text(data.guardian_relation, "body.guardian_relation", 32)
    rx.accompanying_clinician = _text(data.accompanying_clinician, "body.accompanying_clinician", 64)
    rx.herbal_doses = data.herbal_doses if rx.kind == HERBAL else None
    rx.herbal_usage = _text(data.herbal_usage, "body.herbal_usage", 200) if rx.kind == HERBAL else None
    rx.note = _text(data.note, "body.note", 500)
    # One flush for the whole save: the prescription's columns, its lines, findings and the event
    # (the check reads only other tables, and the lines it checks are the rows just built).
    with db.no_autoflush:
        facts, rows = _write_lines(db, rx, data.lines, flush=False)
        patient = db.get(Visitor, rx.visitor_id)
        events.record(db, rx, "saved", actor, {"lines": len(data.lines)}, flush=False)
        findings_after_change(db, rx, facts, rows)  # flushes all of the above
    return Saved(rx, rows, patient)


def findings_after_change(
    db: Session,
    rx: Prescription,
    drugs: dict[int, DrugFacts] | None = None,
    lines: list[PrescriptionLine] | None = None,
) -> list[PrescriptionFinding]:
    """Check the draft again; keep override reasons of warnings still found, drop the rest
    (``lines``: the draft's lines by position when the caller has just written them)."""
    if lines is None:
        lines = list(
            db.scalars(
                select(PrescriptionLine)
                .where(PrescriptionLine.prescription_id == rx.id)
                .order_by(PrescriptionLine.position)
            )
        )
    found, kb_version = checks.evaluate(db, rx, lines, local_today(), drugs)
    kept = {
        row.key: row
        for row in db.execute(
            select(
                PrescriptionFinding.key,
                PrescriptionFinding.override_reason,
                PrescriptionFinding.overridden_by,
                PrescriptionFinding.overridden_at,
            ).where(PrescriptionFinding.prescription_id == rx.id)
        )
    }
    db.execute(delete(PrescriptionFinding).where(PrescriptionFinding.prescription_id == rx.id))
    rows = []
    seen: set[str] = set()
    for f in found:
        if f.key in seen:
            continue
        seen.add(f.key)
        old = kept.get(f.key)
        keep = old is not None and f.severity == "warn" and old.override_reason is not None
        rows.append(
            PrescriptionFinding(
                institution_id=rx.institution_id,
                prescription_id=rx.id,
                key=f.key,
                code=f.code,
                severity=f.severity,
                line=f.line,
                field=f.field,
                message_zh=f.message_zh[:500],
                message_en=f.message_en[:500],
                override_reason=old.override_reason if keep and old else None,
                overridden_by=old.overridden_by if keep and old else None,
                overridden_at=old.overridden_at if keep and old else None,
            )
        )
    db.add_all(rows)
    rx.kb_version = kb_version
    db.flush()
    return rows
