"""Sending SMS from any domain: ``queue_sms`` writes an outbox message; delivery runs after commit.

    queue_sms(db, institution_id, phone, SmsTemplate.QUALIFICATION_APPROVED, {"name": "张医生"})

The message leaves only if the caller's transaction commits (ARCHITECTURE principle 1); the
``sms.send`` handler (``jobs.py``) calls the provider with retries, and the outbox retries it
later if the provider stays down. The phone number and the parameters (which may hold a
verification code) are stored in the outbox row encrypted with the field key, never in clear.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from ihis.integrations.sms.templates import SmsTemplate, check_params
from ihis.platform import outbox
from ihis.platform.crypto.fields import decrypt_field, encrypt_field

TOPIC = "sms.send"


def resolve_template(template: SmsTemplate | str) -> SmsTemplate:
    """Accept the enum, its template code, or its lower-case name (``"qualification_approved"``)."""
    if isinstance(template, SmsTemplate):
        return template
    try:
        return SmsTemplate(template)
    except ValueError:
        return SmsTemplate[template.upper()]


def queue_sms(
    db: Session, institution_id: int, phone: str, template: SmsTemplate | str, params: Mapping[str, str]
) -> str:
    """Queue one templated SMS for delivery after commit; returns its ``OutId`` (our message id)."""
    chosen = resolve_template(template)
    values = {k: str(v) for k, v in params.items()}
    check_params(chosen, values)  # a bad template call is a programming error: fail in the request
    out_id = uuid.uuid4().hex
    payload = {
        "institution_id": institution_id,
        "template": chosen.value,
        "out_id": out_id,
        "phone": encrypt_field(phone),
        "params": encrypt_field(json.dumps(values, ensure_ascii=False)),
    }
    outbox.emit(db, TOPIC, payload, key=out_id)
    return out_id


def open_payload(payload: Mapping[str, object]) -> tuple[str, SmsTemplate, dict[str, str], str]:
    """Phone, template, parameters and OutId of a queued message (decrypted)."""
    phone = decrypt_field(str(payload["phone"]))
    params = json.loads(decrypt_field(str(payload["params"])))
    return phone, SmsTemplate(str(payload["template"])), params, str(payload["out_id"])
