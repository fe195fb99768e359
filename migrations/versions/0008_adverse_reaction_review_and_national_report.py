"""adverse reaction review and national report

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 05:27:50.470278
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ihis.platform.crypto.fields
import ihis.platform.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("adverse_reaction_report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), server_default="new", nullable=False))
        batch_op.add_column(
            sa.Column("reviewed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reviewed_at", ihis.platform.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("review_note", ihis.platform.crypto.fields.EncryptedString(), nullable=True)
        )
        batch_op.add_column(sa.Column("national_report_no", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "national_reported_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("national_reported_at", ihis.platform.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_check_constraint(
            op.f("ck_adverse_reaction_report_status"), "status IN ('new', 'reviewed', 'reported')"
        )
        batch_op.create_check_constraint(
            op.f("ck_adverse_reaction_report_reported_has_number"),
            "status <> 'reported' OR national_report_no IS NOT NULL",
        )
        batch_op.create_index("ix_adverse_reaction_queue", ["institution_id", "status", "id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_adverse_reaction_report_national_reported_by_user_account"),
            "user_account",
            ["national_reported_by"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_adverse_reaction_report_reviewed_by_user_account"),
            "user_account",
            ["reviewed_by"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("adverse_reaction_report", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_adverse_reaction_report_reviewed_by_user_account"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_adverse_reaction_report_national_reported_by_user_account"), type_="foreignkey"
        )
        batch_op.drop_index("ix_adverse_reaction_queue")
        batch_op.drop_constraint(op.f("ck_adverse_reaction_report_reported_has_number"), type_="check")
        batch_op.drop_constraint(op.f("ck_adverse_reaction_report_status"), type_="check")
        batch_op.drop_column("national_reported_at")
        batch_op.drop_column("national_reported_by")
        batch_op.drop_column("national_report_no")
        batch_op.drop_column("review_note")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("status")
