"""Everything checked before a prescription may be submitted, in one list of findings.

- the rational-use rules of the knowledge base (``medication_rules.engine.evaluate``: control class,
  5-drug limit, days, validity, dose by age, allergy, interactions, duplicates, route, fit ...);
- stock: each line must be available at one of the pharmacies (DOMAIN §5, TCM 8.2.6.4) — block;
- children under 6: a guardian and the accompanying clinician must be recorded (互联网诊疗管理办法
  第十九条) — block;
- no lines — block.

A block stops submission; a warning needs the doctor's recorded reason (shown to the pharmacist).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlalchemy.orm import Session

from ihis.formulary import service as formulary
from ihis.formulary.facts import DrugFacts
from ihis.identity import idnumbers
from ihis.identity.models import Visitor
from ihis.medication_rules import engine as rules
from ihis.medication_rules.service import load_knowledge_base
from ihis.prescribing.models import Prescription, PrescriptionLine


def _finding(code: str, field: str, zh: str, en: str, line: int | None = None) -> rules.Finding:
    return rules.Finding(
        code=code, severity="block", line=line, field=field, message_zh=zh, message_en=en, detail={}
    )


def _local(
    rx: Prescription, visitor: Visitor, today: dt.date, lines: list[PrescriptionLine]
) -> list[rules.Finding]:
    out: list[rules.Finding] = []
    if not lines:
        out.append(_finding("no_lines", "lines", "处方中还没有药品", "The prescription has no drugs"))
    if idnumbers.age_facts(visitor.birth_date, today=today).under_six:
        if not (rx.guardian_name and rx.guardian_relation):
            out.append(
                _finding(
                    "guardian_required",
                    "guardian_name",
                    "6 岁以下儿童须登记监护人姓名及关系",
                    "A child under 6: record the guardian's name and relation",
                )
            )
        if not rx.accompanying_clinician:
            out.append(
                _finding(
                    "accompanying_clinician_required",
                    "accompanying_clinician",
                    "6 岁以下儿童须登记陪伴的医务人员",
                    "A child under 6: record the accompanying clinician",
                )
            )
    return out


def _stock(db: Session, rx: Prescription, lines: list[PrescriptionLine]) -> list[rules.Finding]:
    levels = formulary.stock_levels(db, rx.institution_id, [line.drug_id for line in lines])
    out = []
    for i, line in enumerate(lines):
        best = max((s.available for s in levels.get(line.drug_id, [])), default=0)
        if best < line.quantity:
            out.append(
                _finding(
                    "out_of_stock",
                    f"lines.{i}.quantity",
                    f"{line.drug_name} 库存不足（最多可开 {best}）",
                    f"{line.drug_name} is out of stock (at most {best} available)",
                    line=i,
                )
            )
    return out


def evaluate(
    db: Session,
    rx: Prescription,
    lines: list[PrescriptionLine],
    today: dt.date,
    drugs: dict[int, DrugFacts] | None = None,
) -> tuple[list[rules.Finding], int]:
    """All findings of the draft as it is stored, and the knowledge-base version used (``drugs``: the
    lines' facts when the caller has just read them)."""
    visitor = db.get(Visitor, rx.visitor_id)
    assert visitor is not None
    if drugs is None:
        drugs = formulary.drug_facts(db, rx.institution_id, [line.drug_id for line in lines])
    kb = load_knowledge_base(db, rx.institution_id)
    draft = rules.RxDraft(
        kind="herbal" if rx.kind == "herbal" else "western_patent",
        lines=tuple(
            rules.RxLine(
                drug_id=line.drug_id,
                dose=Decimal(line.dose),
                dose_unit=line.dose_unit,
                frequency=line.frequency,
                route=line.route,
                days=line.days,
                quantity=line.quantity,
            )
            for line in lines
        ),
        diagnosis_codes=tuple(d["code"] for d in json.loads(rx.diagnoses) if d.get("system") == "icd10"),
        validity_days=rx.validity_days,
        course=rx.course,  # type: ignore[arg-type]
        extension_reason=rx.extension_reason,
    )
    patient = rules.PatientFacts(
        birth_date=visitor.birth_date,
        today=today,
        sex={1: "male", 2: "female"}.get(visitor.sex),
        allergy_classes=frozenset(json.loads(rx.allergy_classes)),
        pregnant=rx.pregnant,
        lactating=rx.lactating,
        limited_mobility=rx.limited_mobility,
    )
    findings = _local(rx, visitor, today, lines) + rules.evaluate(draft, patient, drugs, kb)
    if lines:
        findings += _stock(db, rx, lines)
    return findings, kb.version
