"""Images and voice clips of a room: checked by content (never by name or claimed type), stored
through ``FileStorage`` (local directory or S3-compatible), readable by members and quality staff."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.messaging.config import ChatConfig
from ihis.messaging.media import voice_info
from ihis.messaging.models import ChatUpload
from ihis.messaging.service import patient_of, require_participant, require_reader
from ihis.platform import audit
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.platform.storage import (
    JPEG,
    MP4_AUDIO,
    MP4_VIDEO,
    OGG,
    PNG,
    SNIFF_BYTES,
    WEBM,
    WEBP,
    FileStorage,
    accept_upload,
    sniff_content_type,
)

IMAGE_TYPES = frozenset({PNG, JPEG, WEBP})
VOICE_TYPES = frozenset({OGG, WEBM, MP4_AUDIO})


def upload(
    db: Session,
    actor: Actor,
    room_id: int,
    data: bytes,
    storage: FileStorage,
    config: ChatConfig,
    *,
    field: str = "file",
) -> ChatUpload:
    """Store an image or voice clip for a later ``post_message``; 4xx naming ``field`` if refused."""
    room, _ = require_participant(db, actor, room_id)
    if room.status != "open":
        raise Conflict("会话已结束", "The conversation is closed")
    if not data:
        raise InvalidInput.field(field, "file_empty", "文件为空", "The file is empty")
    sniffed = sniff_content_type(data[:SNIFF_BYTES])
    duration_ms: int | None = None
    if sniffed in IMAGE_TYPES:
        kind, content_type, max_bytes = "image", sniffed, config.image_max_bytes
    elif sniffed in (OGG, WEBM, MP4_AUDIO, MP4_VIDEO):
        content_type, duration_ms = voice_info(sniffed, data)
        if content_type not in VOICE_TYPES:
            raise _bad_type(field)
        kind, max_bytes = "voice", config.voice_max_bytes
        if len(data) <= max_bytes:  # the size error wins for an oversized clip
            if duration_ms is None:
                raise InvalidInput.field(
                    field, "duration_unknown", "无法识别语音时长", "The clip's duration cannot be read"
                )
            if duration_ms > config.voice_max_seconds * 1000:
                raise InvalidInput.field(
                    field,
                    "duration_too_long",
                    f"语音不能超过 {config.voice_max_seconds} 秒",
                    f"Voice clips must not exceed {config.voice_max_seconds} s",
                )
    else:
        raise _bad_type(field)
    assert sniffed is not None
    stored = accept_upload(db, storage, data, allowed=frozenset({sniffed}), max_bytes=max_bytes, field=field)
    row = ChatUpload(
        institution_id=room.institution_id,
        room_id=room.id,
        uploader_account_id=actor.user_id,
        file_key=stored.key,
        kind=kind,
        content_type=content_type,
        size_bytes=stored.size,
        duration_ms=duration_ms,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor.audit(),
        "chat.file.upload",
        resource_type="chat_upload",
        resource_id=row.id,
        patient_id=patient_of(db, room.id),
        detail={"room_id": room.id, "kind": kind, "size": stored.size},
    )
    return row


def _bad_type(field: str) -> InvalidInput:
    return InvalidInput.field(
        field,
        "file_type_not_allowed",
        "仅支持 PNG/JPEG/WEBP 图片或 OGG/WEBM/M4A 语音",
        "Only PNG/JPEG/WEBP images or OGG/WEBM/M4A voice clips are accepted",
    )


def read(db: Session, actor: Actor, room_id: int, key: str, storage: FileStorage) -> tuple[ChatUpload, bytes]:
    """A room's file for a member or quality staff (the read is audited by ``require_reader``)."""
    require_reader(db, actor, room_id)
    row = db.scalar(
        select(ChatUpload).where(
            ChatUpload.room_id == room_id,
            ChatUpload.file_key == key,
            ChatUpload.institution_id == actor.institution_id,
        )
    )
    if row is None:
        raise NotFound("文件不存在", "File not found")
    return row, storage.get(key)
