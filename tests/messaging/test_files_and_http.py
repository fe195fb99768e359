"""Uploads (type and size checks, S3 over HTTP), file access, the HTTP doors, ICE servers, delayed mode."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import boto3
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.messaging.ice import turn_credentials
from ihis.notifications.models import Delivery, Message
from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_messaging import JPEG, PNG, connect, m4a, make_chat, ogg_opus, recv


def _upload(client: TestClient, room_id: int, data: bytes, name: str = "f.bin") -> object:
    return client.post(
        f"/api/v1/rooms/{room_id}/files", files={"file": (name, data, "application/octet-stream")}
    )


def test_an_image_is_uploaded_sent_and_read_back_by_the_other_member(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    login_as(anon, db, chat.doctor, settings)
    uploaded = client.post(
        f"/api/v1/rooms/{chat.room.id}/files", files={"file": ("x.txt", PNG, "text/plain")}
    )
    assert uploaded.status_code == 201, uploaded.text
    key = uploaded.json()["key"]
    assert uploaded.json()["content_type"] == "image/png"
    sent = client.post(
        f"/api/v1/rooms/{chat.room.id}/messages",
        json={"client_msg_id": "i-1", "kind": "image", "file_key": key},
    )
    assert sent.status_code == 200 and sent.json()["seq"] == 1
    got = anon.get(f"/api/v1/rooms/{chat.room.id}/files/{key}")
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"MZ\x90\x00 pretending to be a picture", "file_type_not_allowed"),
        (m4a(5, video=True), "file_type_not_allowed"),
        (ogg_opus(61), "duration_too_long"),
        (b"OggS" + b"\x00" * 30, "duration_unknown"),
        (b"", "file_empty"),
    ],
)
def test_bad_uploads_are_refused_naming_the_field(
    client: TestClient, db: Session, settings: Settings, data: bytes, code: str
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    refused = _upload(client, chat.room.id, data)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"][0] == {**refused.json()["errors"][0], "field": "file", "code": code}


def test_an_oversized_image_is_refused_with_413(client: TestClient, db: Session, settings: Settings) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    refused = _upload(client, chat.room.id, JPEG + b"\x00" * (5 * 1024 * 1024))
    assert refused.status_code == 413
    assert refused.json()["errors"][0]["field"] == "file"


@pytest.mark.parametrize(("clip", "content_type"), [(ogg_opus(12.5), "audio/ogg"), (m4a(59), "audio/mp4")])
def test_voice_clips_up_to_60_seconds_are_accepted_with_their_duration(
    client: TestClient, db: Session, settings: Settings, clip: bytes, content_type: str
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    uploaded = _upload(client, chat.room.id, clip)
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert (body["kind"], body["content_type"]) == ("voice", content_type)
    assert 12_000 <= body["duration_ms"] <= 59_000


def test_files_and_history_are_404_for_non_members_and_other_institutions(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    chat = make_chat(db, inst)
    login_as(client, db, chat.patient, settings)
    key = _upload(client, chat.room.id, PNG).json()["key"]  # type: ignore[attr-defined]
    for stranger in (make_patient(db, inst), make_staff(db, make_institution(db), roles=["quality"])):
        login_as(anon, db, stranger, settings)
        assert anon.get(f"/api/v1/rooms/{chat.room.id}/files/{key}").status_code == 404
        assert anon.get(f"/api/v1/rooms/{chat.room.id}/messages").status_code == 404
        assert _upload(anon, chat.room.id, PNG).status_code == 404  # type: ignore[attr-defined]
        sent = anon.post(
            f"/api/v1/rooms/{chat.room.id}/messages",
            json={"client_msg_id": "x", "kind": "text", "body": "hi"},
        )
        assert sent.status_code == 404


def test_quality_staff_read_the_history_and_the_read_is_audited(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    chat = make_chat(db, inst)
    login_as(client, db, chat.patient, settings)
    client.post(
        f"/api/v1/rooms/{chat.room.id}/messages", json={"client_msg_id": "q", "kind": "text", "body": "头痛"}
    )
    reviewer = make_staff(db, inst, roles=["quality"])
    login_as(anon, db, reviewer, settings)
    history = anon.get(f"/api/v1/rooms/{chat.room.id}/messages")
    assert history.status_code == 200 and [m["body"] for m in history.json()["messages"]] == ["头痛"]
    entry = db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "chat.history.review", AuditEvent.actor_id == reviewer.id
        )
    ).one()
    assert entry.patient_id == chat.patient.id


def test_every_messaging_endpoint_needs_a_session(anon: TestClient, db: Session) -> None:
    chat = make_chat(db, make_institution(db))
    r = chat.room.id
    for method, path in [
        ("GET", "/api/v1/rooms"),
        ("GET", f"/api/v1/rooms/{r}/messages"),
        ("POST", f"/api/v1/rooms/{r}/messages"),
        ("POST", f"/api/v1/rooms/{r}/read"),
        ("POST", f"/api/v1/rooms/{r}/files"),
        ("GET", f"/api/v1/rooms/{r}/files/{'0' * 32}"),
        ("GET", "/api/v1/rtc/ice-servers"),
    ]:
        assert anon.request(method, path).status_code == 401, path


def test_bad_input_on_http_doors_names_the_field(client: TestClient, db: Session, settings: Settings) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    bad = client.post(
        f"/api/v1/rooms/{chat.room.id}/messages", json={"client_msg_id": "", "kind": "text", "body": "x"}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.client_msg_id"
    bad = client.post(f"/api/v1/rooms/{chat.room.id}/read", json={"seq": 9})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "seq"
    bad = client.get(f"/api/v1/rooms/{chat.room.id}/messages?limit=0")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.limit"


def test_ice_servers_carry_time_limited_turn_credentials(
    client: TestClient, db: Session, settings: Settings, app: object
) -> None:
    chat = make_chat(db, make_institution(db))
    app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={
            "webrtc_stun_urls": "stun:turn.example:3478",
            "webrtc_turn_urls": "turn:turn.example:3478?transport=udp",
            "webrtc_turn_secret": SecretStr("s3cret"),
            "webrtc_turn_ttl_seconds": 600,
        }
    )
    login_as(client, db, chat.doctor, settings)
    body = client.get("/api/v1/rtc/ice-servers").json()
    stun, turn = body["ice_servers"]
    assert stun == {"urls": ["stun:turn.example:3478"], "username": None, "credential": None}
    expiry, account = turn["username"].split(":")
    assert account == str(chat.doctor.id)
    assert (turn["username"], turn["credential"]) == turn_credentials(
        "s3cret", chat.doctor.id, 600, now=int(expiry) - 600
    )


def test_an_offline_receiver_gets_one_notice_per_batch_of_unread_messages(
    client: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    for i in range(3):
        client.post(
            f"/api/v1/rooms/{chat.room.id}/messages",
            json={"client_msg_id": f"o{i}", "kind": "text", "body": "hi"},
        )
    notices = db.scalars(select(Message).where(Message.recipient_account_id == chat.doctor.id)).all()
    assert len(notices) == 1 and notices[0].event == "chat_message"
    assert "hi" not in notices[0].body  # the text never travels in a notice


def test_a_receiver_with_a_live_socket_gets_no_notice(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    login_as(anon, db, chat.doctor, settings)
    with connect(anon) as ws:
        recv(ws)
        client.post(
            f"/api/v1/rooms/{chat.room.id}/messages",
            json={"client_msg_id": "l", "kind": "text", "body": "hi"},
        )
    assert db.scalars(select(Delivery).where(Delivery.recipient_account_id == chat.doctor.id)).all() == []


# --- S3-compatible storage (moto's server over real HTTP) ---------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ).create_bucket(Bucket="ihis-chat")
    yield endpoint
    server.stop()


def test_uploads_go_to_s3_compatible_storage_when_configured(
    client: TestClient, db: Session, settings: Settings, app: object, s3_endpoint: str
) -> None:
    s3 = {
        "storage_backend": "s3",
        "storage_s3_bucket": "ihis-chat",
        "storage_s3_endpoint_url": s3_endpoint,
        "storage_s3_region": "us-east-1",
        "storage_s3_access_key_id": "k",
        "storage_s3_secret_access_key": SecretStr("s"),
        "storage_s3_prefix": "chat/",
    }
    app.state.settings = settings.model_copy(update=s3)  # type: ignore[attr-defined]
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    key = _upload(client, chat.room.id, PNG).json()["key"]  # type: ignore[attr-defined]
    stored = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ).get_object(Bucket="ihis-chat", Key=f"chat/{key}")
    assert stored["Body"].read() == PNG
    assert client.get(f"/api/v1/rooms/{chat.room.id}/files/{key}").content == PNG
    assert client.get(f"/api/v1/rooms/{chat.room.id}/files/{'f' * 32}").status_code == 404
