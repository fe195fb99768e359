"""In the gm (国密) suite documents are hashed with SM3 and time-stamped over an SM3 imprint."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.platform.db import Database
from ihis.settings import CryptoSuite, Settings
from ihis.signing import service
from ihis.signing.canonical import canonical_bytes, digest
from ihis.signing.models import SignedDocument
from tests.factories import make_institution
from tests.factories_signing import DOCTOR_PIN, actor_of, enrol_and_activate


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"crypto_suite": CryptoSuite.GM})


def test_a_document_signed_in_the_gm_suite_uses_sm3_and_verifies(
    client: TestClient, db: Session, settings: Settings
) -> None:
    doctor = enrol_and_activate(client, db, settings, make_institution(db))
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    payload = {"诊断": "高血压", "fee_fen": 100}
    doc = service.sign_document(database, actor_of(doctor), DOCTOR_PIN, "emr", "G-1", payload)
    assert doc.digest_algorithm == "sm3" and doc.signature_algorithm == "ecdsa-p256-sm3"
    assert doc.digest_hex == digest("sm3", canonical_bytes(payload)).hex()
    stored = db.get(SignedDocument, doc.id)
    assert stored is not None
    assert service.verify(db, stored).valid
    stored.content = stored.content.replace("高", "低")
    db.flush()
    assert service.verify(db, stored).failures == ["digest_mismatch"]
