"""Factories for the notifications domain.

ops = make_operations(db, inst)
notified = make_notification(db, patient)                      # booking_confirmed, in-app only
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.notifications import service
from ihis.notifications.channels import Link
from ihis.notifications.template_service import sample_variables
from ihis.notifications.templates import Event
from ihis.tenancy.models import Institution
from tests.factories import make_staff


def make_operations(db: Session, inst: Institution, **kw: Any) -> UserAccount:
    return make_staff(db, inst, roles=["operations"], **kw)


def variables_for(event: Event | str, **overrides: str) -> dict[str, str]:
    """Every variable the event declares, with sample values."""
    return {**sample_variables(Event(event)), **overrides}


def make_notification(
    db: Session,
    account: UserAccount,
    *,
    event: Event | str = Event.BOOKING_CONFIRMED,
    channels: list[str] | None = None,
    link: Link | None = None,
    **overrides: str,
) -> service.Notified:
    """Notify ``account`` (in-app only unless ``channels`` says otherwise)."""
    return service.notify(
        db,
        institution_id=account.institution_id,
        recipient_account_id=account.id,
        event=event,
        variables=variables_for(event, **overrides),
        link=link if link is not None else Link("registration", 12, "/registrations/12"),
        channels=channels if channels is not None else ["in_app"],
    )
