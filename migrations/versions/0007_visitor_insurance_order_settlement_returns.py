"""visitor insurance binding, drug order settlement and returned parcels

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 04:47:12.366243
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ihis.platform.crypto.fields
import ihis.platform.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WITHOUT_RETURNED = (
    "awaiting_confirmation",
    "awaiting_payment",
    "paid",
    "dispensing",
    "dispensed",
    "packed",
    "handed_over",
    "ready_for_pickup",
    "delivered",
    "signed_off",
    "refund_requested",
    "refunded",
    "cancelled",
    "expired",
)
WITH_RETURNED = (*WITHOUT_RETURNED, "returned")


def _statuses(values: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("drug_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("insurance_settlement_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("insurance_state", sa.String(length=16), nullable=True))
        batch_op.drop_constraint(op.f("ck_drug_order_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_drug_order_status"), _statuses(WITH_RETURNED))

    with op.batch_alter_table("visitor", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("insurance_psn_no", ihis.platform.crypto.fields.EncryptedString(), nullable=True)
        )
        batch_op.add_column(sa.Column("insurance_type", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("insurance_area", sa.String(length=12), nullable=True))
        batch_op.add_column(
            sa.Column("insurance_bound_at", ihis.platform.db.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("visitor", schema=None) as batch_op:
        batch_op.drop_column("insurance_bound_at")
        batch_op.drop_column("insurance_area")
        batch_op.drop_column("insurance_type")
        batch_op.drop_column("insurance_psn_no")

    with op.batch_alter_table("drug_order", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_drug_order_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_drug_order_status"), _statuses(WITHOUT_RETURNED))
        batch_op.drop_column("insurance_state")
        batch_op.drop_column("insurance_settlement_id")
