"""HTTP doors of messaging (paths relative to ``/api/v1``): rooms, history, sends, receipts, files,
ICE servers. The live channel is the WebSocket ``/api/v1/ws`` (``ws.py``; protocol in docs/chat.md).

Any signed-in member of a room may use it; quality staff read histories and files (audited);
anyone else, and every room of another institution, gets 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile

from ihis.identity.access import CurrentActor
from ihis.messaging import files, service
from ihis.messaging.config import chat_config
from ihis.messaging.hub import configure_hub
from ihis.messaging.ice import ice_servers
from ihis.messaging.schemas import (
    AckOut,
    HistoryOut,
    IceServersOut,
    MessageOut,
    ReadIn,
    ReceiptOut,
    RoomOut,
    SendIn,
    UploadOut,
    message_frame,
)
from ihis.messaging.ws import router as ws_router
from ihis.platform.http import AppSettings, Db, ReadDb, Storage
from ihis.platform.storage import read_limited

router = APIRouter(tags=["messaging"])
router.include_router(ws_router)


@router.get("/rooms")
def list_rooms(actor: CurrentActor, db: ReadDb) -> list[RoomOut]:
    """The caller's rooms with unread counts."""
    unread = service.unread_counts(db, actor)
    return [
        RoomOut(
            id=room.id,
            ref_type=room.ref_type,
            ref_id=room.ref_id,
            status=room.status,
            role=p.role,
            last_seq=room.last_seq,
            read_seq=p.read_seq,
            unread=unread.get(room.id, 0),
        )
        for room, p in service.my_rooms(db, actor)
    ]


@router.get("/rooms/{room_id}/messages")
def room_history(
    room_id: int,
    actor: CurrentActor,
    db: ReadDb,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_HISTORY_PAGE)] = 50,
) -> HistoryOut:
    """Messages after ``after_seq`` in order (members; quality staff, audited)."""
    room, messages = service.history_page(db, actor, room_id, after_seq=after_seq, limit=limit)
    return HistoryOut(
        room=room_id,
        last_seq=room.last_seq,
        messages=[MessageOut.model_validate(message_frame(m)) for m in messages],
    )


@router.post("/rooms/{room_id}/messages")
def send_message(room_id: int, body: SendIn, actor: CurrentActor, db: Db, settings: AppSettings) -> AckOut:
    """Send without a socket (same rules and idempotency as the socket's ``send``)."""
    configure_hub(settings)
    posted = service.post_message(
        db,
        actor,
        room_id,
        kind=body.kind,
        body=body.body,
        file_key=body.file_key,
        client_msg_id=body.client_msg_id,
    )
    return AckOut(
        room=room_id, client_msg_id=body.client_msg_id, seq=posted.message.seq, duplicate=posted.duplicate
    )


@router.post("/rooms/{room_id}/read")
def mark_read(room_id: int, body: ReadIn, actor: CurrentActor, db: Db, settings: AppSettings) -> ReceiptOut:
    """Read receipt: everything up to ``seq`` has been read."""
    configure_hub(settings)
    r = service.mark_read(db, actor, room_id, body.seq)
    return ReceiptOut(
        room=r.room_id, account=r.account_id, delivered_seq=r.delivered_seq, read_seq=r.read_seq
    )


@router.post("/rooms/{room_id}/files", status_code=201)
def upload_file(
    room_id: int,
    actor: CurrentActor,
    db: Db,
    settings: AppSettings,
    storage: Storage,
    file: Annotated[UploadFile, File(description="PNG/JPEG/WEBP image or OGG/WEBM/M4A voice clip (<= 60 s)")],
) -> UploadOut:
    """Upload an image or voice clip; send it with ``kind`` image/voice and the returned ``key``."""
    config = chat_config(settings)
    data = read_limited(file.file, max(config.image_max_bytes, config.voice_max_bytes), "file")
    row = files.upload(db, actor, room_id, data, storage, config, field="file")
    return UploadOut(
        key=row.file_key,
        kind=row.kind,
        content_type=row.content_type,
        size=row.size_bytes,
        duration_ms=row.duration_ms,
    )


@router.get("/rooms/{room_id}/files/{key}", response_class=Response)
def download_file(room_id: int, key: str, actor: CurrentActor, db: ReadDb, storage: Storage) -> Response:
    """A room's file (members; quality staff, audited)."""
    row, data = files.read(db, actor, room_id, key, storage)
    return Response(
        data,
        media_type=row.content_type,
        headers={"Cache-Control": "private, no-store", "Content-Disposition": "inline"},
    )


@router.get("/rtc/ice-servers")
def rtc_ice_servers(actor: CurrentActor, settings: AppSettings) -> IceServersOut:
    """STUN/TURN servers for WebRTC; TURN credentials expire (coturn REST API shared secret)."""
    return IceServersOut.model_validate(ice_servers(chat_config(settings), actor.user_id))
