"""The sandbox TSA at ``POST /sandbox/tsa`` (sandbox mode only): RFC 3161 over HTTP.

Answers ``application/timestamp-query`` with ``application/timestamp-reply`` tokens signed by the
sandbox TSA key, whose certificate (EKU timeStamping) is issued by the sandbox root CA. Token
building is pyhanko's ``DummyTimeStamper`` (the standard TSTInfo / SignedData layout); it signs
with SHA-256 whatever the imprint's hash (SHA-256 or SM3).
"""

from __future__ import annotations

from typing import Annotated

from asn1crypto import keys, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Request, Response
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from sqlalchemy.orm import Session

from ihis.integrations.ca import authority, pki
from ihis.integrations.tsa.client import QUERY_TYPE, REPLY_TYPE
from ihis.platform.clock import utcnow
from ihis.platform.http import Db

router = APIRouter(prefix="/sandbox/tsa", tags=["sandbox"], include_in_schema=False)


def stamper(db: Session) -> DummyTimeStamper:
    """The sandbox TSA, stamping with the current time."""
    stored = authority.tsa(db)
    cert = pki.load_cert(stored.cert_pem)
    key_der = pki.load_private_der(stored.key_pem)
    return DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=keys.PrivateKeyInfo.load(key_der),
        fixed_dt=utcnow(),
        override_md="sha256",
    )


async def raw_body(request: Request) -> bytes:
    """The exact request bytes (DER)."""
    return await request.body()


@router.post("", response_model=None)
def timestamp(request: Request, body: Annotated[bytes, Depends(raw_body)], db: Db) -> Response:
    """Answer one TimeStampReq (415 for another media type, 400 for an unreadable request)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != QUERY_TYPE:
        return Response(status_code=415)
    try:
        req = tsp.TimeStampReq.load(body)
        req["message_imprint"]["hashed_message"].native  # noqa: B018 - parse now, fail here
    except (ValueError, TypeError, KeyError):
        return Response(status_code=400)
    reply = stamper(db).request_tsa_response(req)
    return Response(reply.dump(), media_type=REPLY_TYPE)
