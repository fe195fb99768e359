"""The patient's PDF of a signed medical record: the record, the signature and time-stamp details,
and a QR code that opens the public verification page. Chinese text uses an embedded TrueType CJK
font (``IHIS_PDF_FONT_PATH``), so the file reads the same on any device."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
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

from ihis.platform.clock import HOSPITAL_TZ

FONT = "IhisCJK"
SEX = {0: "未知", 1: "男", 2: "女", 9: "未说明"}


@dataclass(frozen=True)
class SignatureFacts:
    """What the PDF states about the signature (from the signing domain's stored record)."""

    signer: str
    certificate_subject: str
    certificate_serial: str
    digest_algorithm: str
    digest_hex: str
    signed_at: dt.datetime
    timestamp_time: dt.datetime | None
    timestamp_authority: str | None
    verify_url: str


@cache
def _register_font(path: str) -> str:
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0))
    return FONT


def _qr_png(url: str) -> io.BytesIO:
    buffer = io.BytesIO()
    qrcode.make(url, box_size=6, border=2).save(buffer)
    buffer.seek(0)
    return buffer


def _local(at: dt.datetime | None) -> str:
    return at.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M:%S") if at else "—"


def render(record: dict[str, Any], signature: SignatureFacts, *, font_path: str) -> bytes:
    """The PDF bytes of one signed record version."""
    font = _register_font(font_path)
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, alignment=1)
    heading = ParagraphStyle("heading", fontName=font, fontSize=11, leading=16, spaceBefore=6)
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=15)
    small = ParagraphStyle(
        "small", fontName=font, fontSize=8, leading=11, textColor=colors.HexColor("#444444")
    )

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        safe = (
            (text or "—")
            .replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace("\n", "<br/>")
        )
        return Paragraph(safe, style)

    patient = record["patient"]
    story: list[Any] = [
        para(record["institution"]["name"], title),
        para("门诊电子病历", title),
        Spacer(1, 4 * mm),
        Table(
            [
                [
                    para(f"姓名：{patient['name']}"),
                    para(f"性别：{SEX.get(patient['sex'], '')}"),
                    para(f"年龄：{patient['age']}岁"),
                ],
                [
                    para(f"科室：{record['department']}"),
                    para(f"医师：{record['doctor']['name']}"),
                    para(f"就诊时间：{record['visit_time'][:16].replace('T', ' ')}"),
                ],
                [
                    para(f"病历号：{record['consultation_id']}-{record['version']}"),
                    para(f"版本：第{record['version']}版"),
                    para("更正版本" if record.get("amends_record_id") else ""),
                ],
            ],
            colWidths=[60 * mm, 50 * mm, 65 * mm],
        ),
    ]
    for label, key in (
        ("主诉", "chief_complaint"),
        ("现病史", "present_illness"),
        ("既往史", "past_history"),
        ("过敏史", "allergy_history"),
    ):
        story += [para(label, heading), para(record[key])]
    story.append(para("诊断", heading))
    for d in record["diagnoses"]:
        system = {"icd10": "ICD-10", "tcm-disease": "中医病名", "tcm-syndrome": "中医证候"}.get(
            d["system"], d["system"]
        )
        story.append(para(f"{d['name']}（{system} {d['code']}）"))
    story += [para("处理意见", heading), para(record["advice"]), Spacer(1, 6 * mm)]

    facts = [
        [
            para("电子签名", small),
            para(
                f"{signature.signer}；证书 {signature.certificate_subject}；"
                f"序列号 {signature.certificate_serial}",
                small,
            ),
        ],
        [para("签名时间", small), para(_local(signature.signed_at), small)],
        [para("摘要", small), para(f"{signature.digest_algorithm} {signature.digest_hex}", small)],
        [
            para("可信时间戳", small),
            para(f"{_local(signature.timestamp_time)}（{signature.timestamp_authority or '—'}）", small),
        ],
        [para("验证", small), para(f"扫描二维码或访问 {signature.verify_url}", small)],
    ]
    table = Table(facts, colWidths=[22 * mm, 118 * mm])
    table.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOX", (0, 0), (-1, -1), 0.5, colors.grey)])
    )
    qr = Image(_qr_png(signature.verify_url), width=32 * mm, height=32 * mm)
    story.append(Table([[table, qr]], colWidths=[142 * mm, 35 * mm]))

    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title="门诊电子病历",
        author=record["institution"]["name"],
    ).build(story)
    return out.getvalue()
