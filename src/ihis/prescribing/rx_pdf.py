"""The PDF of an approved prescription (处方笺): hospital, 普通处方, number, department, patient, date,
diagnoses, the Rp lines and total, then the doctor's and the reviewing pharmacist's (审核药师) signature
and time-stamp facts, each with a QR code opening the public verification page of that signature.

Chinese text uses the embedded TrueType CJK font (``IHIS_PDF_FONT_PATH``), as the medical-record PDF
does, so the file reads the same on any device (issue 5 §4).
"""

from __future__ import annotations

import io
from functools import cache
from typing import Any

import qrcode
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.orm import Session

from ihis.consultation.record_pdf import SEX, SignatureFacts
from ihis.formulary.facts import ROUTES
from ihis.identity.models import UserAccount
from ihis.medication_rules.vocab import FREQUENCIES
from ihis.platform.clock import HOSPITAL_TZ
from ihis.platform.errors import Conflict, NotFound
from ihis.prescribing import views
from ihis.prescribing.models import APPROVED, HERBAL, Prescription
from ihis.prescribing.schemas import LineOut, PrescriptionOut
from ihis.settings import Settings
from ihis.signing import service as signing
from ihis.signing.models import SignedDocument
from ihis.tenancy.models import Institution

FONT = "IhisCJK"  # the same registered name as the medical-record PDF: one registration per process
DIAGNOSIS_SYSTEMS = {"icd10": "ICD-10", "tcm-disease": "中医病名", "tcm-syndrome": "中医证候"}


@cache
def _register_font(path: str) -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0))
    return FONT


def _qr_png(url: str) -> io.BytesIO:
    buffer = io.BytesIO()
    qrcode.make(url, box_size=6, border=2).save(buffer)
    buffer.seek(0)
    return buffer


def _local(at: Any) -> str:
    return at.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M:%S") if at else "—"


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def signature_facts(db: Session, document_id: int | None, settings: Settings) -> SignatureFacts:
    """What a verification of the stored signature finds now (the PDF states it, not the request)."""
    document = db.get(SignedDocument, document_id) if document_id else None
    if document is None:
        raise NotFound("处方签名不存在", "Signature not found")
    signer = db.get(UserAccount, document.signer_id)
    report = signing.verify(db, document)
    return SignatureFacts(
        signer=signer.display_name if signer else "",
        certificate_subject=report.certificate_subject or "",
        certificate_serial=document.certificate_serial,
        digest_algorithm=document.digest_algorithm,
        digest_hex=document.digest_hex,
        signed_at=document.signed_at,
        timestamp_time=report.timestamped_at,
        timestamp_authority=report.tsa_subject,
        verify_url=settings.public_url(f"/app/verify/{document.verification_code}"),
    )


def approved_pdf(db: Session, rx: Prescription, settings: Settings) -> bytes:
    """The 处方笺 of an approved prescription with both signatures (409 before approval)."""
    if rx.status != APPROVED:
        raise Conflict(
            "处方审核通过后才能下载处方笺",
            "The prescription PDF is available once the prescription is approved",
            extra={"reason": "not_approved"},
        )
    institution = db.get(Institution, rx.institution_id)
    assert institution is not None
    doctor = signature_facts(db, rx.signed_document_id, settings)
    pharmacist = signature_facts(db, rx.review_document_id, settings)
    return render(
        views.outs(db, [rx])[0], institution.name, doctor, pharmacist, font_path=settings.pdf_font_path
    )


def _usage(line: LineOut) -> str:
    frequency = FREQUENCIES[line.frequency].name_zh if line.frequency in FREQUENCIES else line.frequency
    route = ROUTES[line.route][0] if line.route in ROUTES else line.route
    return f"用法：{route}，每次{line.dose}{line.dose_unit}，{frequency}，共{line.days}天"


def render(
    rx: PrescriptionOut,
    hospital: str,
    doctor: SignatureFacts,
    pharmacist: SignatureFacts,
    *,
    font_path: str,
) -> bytes:
    """The PDF bytes of one approved prescription."""
    font = _register_font(font_path)
    title = ParagraphStyle("rx-title", fontName=font, fontSize=16, leading=22, alignment=1)
    label = ParagraphStyle("rx-label", fontName=font, fontSize=10, leading=14, alignment=2)
    body = ParagraphStyle("rx-body", fontName=font, fontSize=10, leading=15)
    drug = ParagraphStyle("rx-drug", fontName=font, fontSize=11, leading=16)
    rp = ParagraphStyle("rx-rp", fontName=font, fontSize=13, leading=17)
    small = ParagraphStyle(
        "rx-small", fontName=font, fontSize=7.5, leading=10, textColor=colors.HexColor("#444444")
    )

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        safe = (text or "—").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return Paragraph(safe.replace("\n", "<br/>"), style)

    width = 178 * mm  # A4 less the margins (two signature blocks with QR codes fit one page)
    issued = _local(rx.submitted_at)[:10]
    sex = SEX.get(rx.patient_sex, "")
    story: list[Any] = [
        para("普通处方" if rx.kind != HERBAL else "普通处方 · 中药饮片", label),
        para(hospital, title),
        para("处 方 笺", title),
        Spacer(1, 2 * mm),
        Table(
            [
                [para(f"处方编号：{rx.number}"), para(f"科室：{rx.department_name}")],
                [
                    para(f"姓名：{rx.patient_name}　性别：{sex}　年龄：{rx.patient_age}岁"),
                    para(f"开具日期：{issued}　有效期至：{rx.valid_until or '—'}"),
                ],
                [
                    para(
                        "临床诊断："
                        + "；".join(
                            f"{d.name}（{DIAGNOSIS_SYSTEMS.get(d.system, d.system)} {d.code}）"
                            for d in rx.diagnoses
                        )
                    ),
                    "",
                ],
            ],
            colWidths=[width * 0.5, width * 0.5],
            style=TableStyle([("SPAN", (0, 2), (1, 2)), ("LINEBELOW", (0, -1), (-1, -1), 0.8, colors.black)]),
        ),
        Spacer(1, 2 * mm),
        para("Rp.", rp),
    ]
    rows: list[list[Any]] = []
    for n, line in enumerate(rx.lines, start=1):
        text = f"{n}. {line.drug_name}　{line.strength}　× {line.quantity}（{line.package}）"
        rows.append([para(text, drug), para(_yuan(line.amount_fen), label)])
        rows.append([para(_usage(line) + (f"；{line.note}" if line.note else "")), ""])
    if rx.kind == HERBAL and rx.herbal_doses:
        rows.append([para(f"共{rx.herbal_doses}剂；{rx.herbal_usage or ''}"), ""])
    if rows:
        story.append(Table(rows, colWidths=[width * 0.8, width * 0.2]))
    story += [
        Spacer(1, 2 * mm),
        Table(
            [[para("（以下空白）"), para(f"合计：{_yuan(rx.total_fen)}", label)]],
            colWidths=[width * 0.6, width * 0.4],
            style=TableStyle([("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.black)]),
        ),
        Table(
            [[para(f"医师：{doctor.signer}"), para(f"审核药师：{pharmacist.signer}")]],
            colWidths=[width * 0.5, width * 0.5],
        ),
        Spacer(1, 2 * mm),
    ]
    for role, facts in (("医师签名", doctor), ("审核药师签名", pharmacist)):
        story.append(_signature_block(role, facts, para, small, width))
        story.append(Spacer(1, 1.5 * mm))

    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=10 * mm,
        bottomMargin=10 * mm,
        title=f"处方笺 {rx.number}",
        author=hospital,
    ).build(story)
    return out.getvalue()


def _signature_block(
    role: str, facts: SignatureFacts, para: Any, small: ParagraphStyle, width: float
) -> Table:
    rows = [
        [para(role, small), para(f"{facts.signer}；证书 {facts.certificate_subject}", small)],
        [para("证书序列号", small), para(facts.certificate_serial, small)],
        [para("摘要", small), para(f"{facts.digest_algorithm} {facts.digest_hex}", small)],
        [para("签名时间", small), para(_local(facts.signed_at), small)],
        [
            para("可信时间戳", small),
            para(f"{_local(facts.timestamp_time)}（{facts.timestamp_authority or '—'}）", small),
        ],
        [para("验证", small), para(f"扫描二维码或访问 {facts.verify_url}", small)],
    ]
    table = Table(rows, colWidths=[27 * mm, width - 61 * mm])
    table.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOX", (0, 0), (-1, -1), 0.5, colors.grey)])
    )
    qr = Image(_qr_png(facts.verify_url), width=30 * mm, height=30 * mm)
    return Table([[table, qr]], colWidths=[width - 32 * mm, 32 * mm])
