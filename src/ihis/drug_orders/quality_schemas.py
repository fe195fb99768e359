"""Bodies of the quality staff's adverse-reaction endpoints (list, detail, review, national report)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from ihis.drug_orders.schemas import ReactionOut


class QualityReactionOut(ReactionOut):
    """A report as quality staff see it: the order's drugs and prescription (patient masked) and its
    handling — reviewed (who, when, the note), reported nationally (number, who, when)."""

    prescription_id: int
    drug_names: list[str]
    status: str  # new | reviewed | reported
    reviewed_by_name: str | None = None
    reviewed_at: dt.datetime | None = None
    review_note: str | None = None  # clinical text, quality staff only
    national_report_no: str | None = None
    national_reported_by_name: str | None = None
    national_reported_at: dt.datetime | None = None


class ReactionReviewIn(BaseModel):
    """评价: the quality staff's assessment (2-2000 characters)."""

    note: str = Field(max_length=4000)


class NationalReportIn(BaseModel):
    """The number the national ADR monitoring system gave the report, and an optional note."""

    report_no: str = Field(max_length=128)
    note: str | None = Field(default=None, max_length=4000)
