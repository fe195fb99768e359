"""Request and response models of the messaging HTTP endpoints, and the message frame shape."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ihis.messaging.models import ChatMessage


def message_frame(m: ChatMessage) -> dict[str, Any]:
    """One message as sockets and HTTP clients see it (the same shape on both)."""
    return {
        "id": m.id,
        "room": m.room_id,
        "seq": m.seq,
        "sender": m.sender_account_id,
        "kind": m.kind,
        "body": m.body,
        "file": (
            {
                "key": m.file_key,
                "content_type": m.content_type,
                "size": m.size_bytes,
                "duration_ms": m.duration_ms,
            }
            if m.file_key
            else None
        ),
        "client_msg_id": m.client_msg_id,
        "created_at": m.created_at.isoformat(),
    }


class FileRef(BaseModel):
    key: str
    content_type: str | None
    size: int | None
    duration_ms: int | None


class MessageOut(BaseModel):
    id: int
    room: int
    seq: int
    sender: int | None
    kind: str
    body: str | None
    file: FileRef | None
    client_msg_id: str | None
    created_at: dt.datetime


class HistoryOut(BaseModel):
    room: int
    last_seq: int
    messages: list[MessageOut]


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_msg_id: str = Field(min_length=1, max_length=64)
    kind: Literal["text", "image", "voice"]
    body: str | None = Field(default=None, max_length=4000)
    file_key: str | None = Field(default=None, max_length=64)


class AckOut(BaseModel):
    room: int
    client_msg_id: str
    seq: int
    duplicate: bool


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0)


class ReceiptOut(BaseModel):
    room: int
    account: int
    delivered_seq: int
    read_seq: int


class RoomOut(BaseModel):
    id: int
    ref_type: str
    ref_id: int
    status: str
    role: str
    last_seq: int
    read_seq: int
    unread: int


class UploadOut(BaseModel):
    key: str
    kind: str
    content_type: str
    size: int
    duration_ms: int | None


class IceServer(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class IceServersOut(BaseModel):
    ice_servers: list[IceServer]
    ttl_seconds: int
