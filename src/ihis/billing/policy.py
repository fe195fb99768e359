"""Who may see which bills, as query filters (ARCHITECTURE principle 5: authorize inside the query)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false

from ihis.billing.models import Bill
from ihis.identity.access import Actor, Permission


def readable(actor: Actor) -> Any:
    """Bills ``actor`` may read: a patient only their own; finance/operations their institution's."""
    same_institution = Bill.institution_id == actor.institution_id
    if actor.is_patient:
        return same_institution & (Bill.payer_account_id == actor.user_id)
    if actor.is_staff and actor.can(Permission.BILLING_READ):
        return same_institution
    return false()
