"""File storage for uploads (licence scans, photos): random keys, sniffed types, size limits.

The embedded default keeps files in a local directory (``settings.storage_dir``); a deployment
with several API hosts sets ``IHIS_STORAGE_BACKEND=s3`` and an S3-compatible store (MinIO, OSS, COS,
AWS) serves the same ``FileStorage`` protocol (``S3FileStorage``).
Callers never choose a path: every file gets a random key, and a key is checked against its
shape before it touches the file system, so no user input can reach outside the store.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from ihis.platform.errors import FieldError, InvalidInput, NotFound, PayloadTooLarge
from ihis.settings import Settings

PNG = "image/png"
JPEG = "image/jpeg"
PDF = "application/pdf"
GIF = "image/gif"
WEBP = "image/webp"
OGG = "audio/ogg"
WEBM = "audio/webm"
MP4_AUDIO = "audio/mp4"
MP4_VIDEO = "video/mp4"
# ISO base media brands that announce audio only (M4A/M4B); other brands may carry video.
_AUDIO_BRANDS = (b"M4A ", b"M4B ")
# Enough leading bytes for every signature below (the WebM DocType sits inside the EBML header).
SNIFF_BYTES = 64

# Content types are decided by the leading bytes, never by the client's Content-Type or the file
# name: a renamed executable is refused whatever it claims to be.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"%PDF-", PDF),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
)

_KEY_SHAPE = re.compile(r"^[0-9a-f]{32}$")
_CHUNK = 64 * 1024
_PENDING = "ihis_storage_written"


def sniff_content_type(head: bytes) -> str | None:
    """The content type that the first bytes of a file announce, or None if unknown."""
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:SNIFF_BYTES]:
        return WEBM
    if head[4:8] == b"ftyp":
        return MP4_AUDIO if head[8:12] in _AUDIO_BRANDS else MP4_VIDEO
    return None


def new_key() -> str:
    """A fresh random file key (128 bits, hex)."""
    return secrets.token_hex(16)


def is_valid_key(key: str) -> bool:
    return bool(_KEY_SHAPE.fullmatch(key))


@dataclass(frozen=True)
class StoredFile:
    key: str
    content_type: str
    size: int


class FileStorage(Protocol):
    """Where uploaded files live. Keys are opaque and chosen by the store."""

    def put(self, data: bytes) -> str:
        """Store ``data`` durably under a new random key and return the key."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``NotFound`` if there are none."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` if present (idempotent)."""
        ...


class LocalFileStorage:
    """Files under one directory, fanned out by the key's first two bytes (``ab/cd/<key>``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not is_valid_key(key):
            # A malformed key never reaches the file system (no traversal through "../").
            raise NotFound("文件不存在", "File not found")
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        key = new_key()
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.tmp")
        # Write to a temporary name, fsync, then rename: a crash never leaves a half file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound("文件不存在", "File not found") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3FileStorage:
    """Files in an S3-compatible bucket (``<prefix><key>``), through boto3 over HTTP(S)."""

    def __init__(self, config: S3Config) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = config.bucket
        self.prefix = config.prefix
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def _object(self, key: str) -> str:
        if not is_valid_key(key):
            raise NotFound("文件不存在", "File not found")
        return self.prefix + key

    def put(self, data: bytes) -> str:
        key = new_key()
        # A single PUT is atomic: the object exists whole or not at all.
        self._client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)
        return key

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise NotFound("文件不存在", "File not found") from None
            raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._object(key))


@dataclass(frozen=True)
class S3Config:
    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = ""


def s3_config(settings: Settings) -> S3Config | None:
    """The S3 store's settings when ``IHIS_STORAGE_BACKEND=s3`` (``IHIS_STORAGE_S3_*``), else None."""
    if settings.storage_backend != "s3":
        return None
    if not settings.storage_s3_bucket:
        raise RuntimeError("IHIS_STORAGE_BACKEND=s3 needs IHIS_STORAGE_S3_BUCKET")
    secret = settings.storage_s3_secret_access_key
    return S3Config(
        bucket=settings.storage_s3_bucket,
        endpoint_url=settings.storage_s3_endpoint_url,
        region=settings.storage_s3_region,
        access_key_id=settings.storage_s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret else None,
        prefix=settings.storage_s3_prefix,
    )


_s3_stores: dict[S3Config, S3FileStorage] = {}
_s3_lock = threading.Lock()


def storage_for(settings: Settings) -> FileStorage:
    """The configured store: the local directory, or S3-compatible storage (one client per config)."""
    config = s3_config(settings)
    if config is None:
        return LocalFileStorage(settings.storage_dir)
    with _s3_lock:
        store = _s3_stores.get(config)
        if store is None:
            store = _s3_stores[config] = S3FileStorage(config)
        return store


def read_limited(stream: BinaryIO, max_bytes: int, field: str) -> bytes:
    """Read an upload, refusing it (413 naming ``field``) as soon as it exceeds ``max_bytes``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(field, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(field: str, max_bytes: int) -> PayloadTooLarge:
    mib = max_bytes / (1024 * 1024)
    zh = f"文件不能超过 {mib:g} MB"
    en = f"File must not exceed {mib:g} MB"
    return PayloadTooLarge(zh, en, errors=[FieldError(field, "file_too_large", zh, en)])


def accept_upload(
    db: Session,
    storage: FileStorage,
    data: bytes,
    *,
    allowed: frozenset[str],
    max_bytes: int,
    field: str,
) -> StoredFile:
    """Check size and sniffed type of an upload, store it, and forget it if the transaction fails."""
    if len(data) > max_bytes:
        raise _too_large(field, max_bytes)
    if not data:
        raise InvalidInput.field(field, "file_empty", "文件为空", "The file is empty")
    content_type = sniff_content_type(data[:SNIFF_BYTES])
    if content_type not in allowed:
        names = "/".join(sorted(t.split("/")[1].upper() for t in allowed))
        raise InvalidInput.field(
            field, "file_type_not_allowed", f"仅支持 {names} 文件", f"Only {names} files are accepted"
        )
    # Join the unit of work first, so that its end (commit or rollback) decides the file's fate.
    db.connection()
    key = storage.put(data)
    db.info.setdefault(_PENDING, []).append((storage, key))
    return StoredFile(key=key, content_type=content_type, size=len(data))


# A file is written before the database commits. If the unit of work rolls back, the file has
# no row pointing at it: remove it so that the store holds only files the database knows.
@event.listens_for(Session, "after_commit")
def _keep_written_files(session: Session) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_soft_rollback")
def _remove_orphaned_files(session: Session, previous_transaction: SessionTransaction) -> None:
    # "soft": also when no SQL ran yet; only the outermost transaction's end decides.
    if previous_transaction.parent is not None:
        return
    for storage, key in session.info.pop(_PENDING, []):
        storage.delete(key)
