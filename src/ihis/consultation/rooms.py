"""A consultation's chat room (messaging domain): opened at accept with the patient and the doctor,
closed with a last system line when the consultation ends. History stays readable (DOMAIN §4)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ihis.consultation.models import Consultation
from ihis.messaging import service as messaging

REF_TYPE = "consultation"


def open_room(db: Session, consultation: Consultation) -> int:
    """Create the room, put both parties in it, say the doctor has received the patient."""
    room = messaging.create_room(
        db, institution_id=consultation.institution_id, ref_type=REF_TYPE, ref_id=consultation.id
    )
    messaging.add_participant(db, room, consultation.account_id, "patient")
    messaging.add_participant(db, room, consultation.doctor_id, "doctor")
    messaging.post_system_message(db, room, "医生已接诊，您可以开始问诊。")
    return room.id


def close_room(db: Session, consultation: Consultation, last_line: str) -> None:
    """The last system line, then no more sends."""
    room = messaging.room_for_ref(
        db, institution_id=consultation.institution_id, ref_type=REF_TYPE, ref_id=consultation.id
    )
    if room is None:
        return
    messaging.post_system_message(db, room, last_line)
    messaging.close_room(db, room)
